// Package deploy holds what it takes to run Athena outside `athena serve`:
// the Kubernetes manifests in k8s/ and the notes in README.md. The image is
// built by the repository's Dockerfile.
//
// The package has no code. Its tests are the contract between these files
// and the rest of the repository, checked without Docker or a cluster:
//
//   - every manifest decodes strictly into its typed Kubernetes object, and
//     the objects agree with each other (selectors, ports, probes, volumes,
//     budgets, the autoscaler, the NATS configuration);
//   - every flag and ATHENA_* variable a manifest or the Dockerfile passes to
//     athena is one that the binary built from ./cmd/athena accepts;
//   - Redis is configured as a cache, and every gateway and engine shares
//     the same one through a Service;
//   - run here with their manifests' args against an embedded NATS and a
//     local redis-server with the Redis manifest's options, the gateway and
//     engine processes answer 200 on every HTTP probe and scrape path, and
//     the gateways report the verdict cache ok;
//   - the Dockerfile copies files that exist, invokes make targets that
//     exist and runs as a non-root user.
package deploy
