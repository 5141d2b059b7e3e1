package rules

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path"
	"time"

	"athena/internal/filewatch"
	"athena/internal/yara/ast"

	"github.com/nats-io/nats.go/jetstream"
)

// Apply installs a new rule set (Engine.Configure, in the end). An error
// means the set was rejected; the old one stays.
type Apply func(*Set) error

// logRejected logs why a rule set was not applied, one line per error.
func logRejected(log *slog.Logger, from string, err error) {
	var list ast.ErrorList
	if errors.As(err, &list) {
		for _, e := range list {
			log.Error("rule set rejected", "from", from, "err", e.Error())
		}
		return
	}
	log.Error("rule set rejected", "from", from, "err", err)
}

// WatchDir checks paths every interval and applies the rule set they hold
// whenever their content changes and compiles; a broken set is logged and
// the one in use stays. It returns when ctx ends. The first check happens
// after one interval: the caller loads the initial set itself (last is the
// Digest of what it loaded). Files are only read when their names, sizes or
// modification times changed.
func WatchDir(ctx context.Context, paths []string, interval time.Duration, last [32]byte, apply Apply, log *slog.Logger) {
	filewatch.Poll(ctx, paths, IsRuleFile, interval, func() {
		srcs, err := ReadPaths(paths)
		if err != nil {
			log.Warn("rule files unreadable; the rule set in use stays", "err", err)
			return
		}
		sum := Digest(srcs)
		if sum == last {
			return
		}
		last = sum
		set, err := Compile(srcs, IncludeFiles)
		if err == nil {
			err = apply(set)
		}
		if err != nil {
			logRejected(log, "directory", err)
			return
		}
		log.Info("rule set applied", "from", "directory", "version", set.Version, "rules", set.Rules)
	})
}

// Digest identifies the content of sources, to notice changes cheaply.
func Digest(srcs []Source) [32]byte {
	h := sha256.New()
	for _, s := range srcs {
		fmt.Fprintf(h, "%q %d\n", s.Name, len(s.Data))
		h.Write(s.Data)
	}
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}

// Bucket is the object store that holds the rule set engines share, and
// Object the name of the one object in it: a tar archive of rule files
// (athena rules push writes it), replaced as a whole so that engines never
// see half an update.
const (
	Bucket = "ATHENA_RULES"
	Object = "ruleset.tar"
)

// maxBundle bounds a pushed rule set.
const maxBundle = 64 << 20

// Bundle packs sources into the tar archive stored in the bucket.
func Bundle(srcs []Source) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, s := range srcs {
		hdr := &tar.Header{Name: path.Base(s.Name), Mode: 0o644, Size: int64(len(s.Data)), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(s.Data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Unbundle reads a bundle's rule files; anything else in it is an error.
func Unbundle(b []byte) ([]Source, error) {
	tr := tar.NewReader(bytes.NewReader(b))
	var srcs []Source
	total := 0
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("rules: bundle: %w", err)
		}
		if hdr.Typeflag != tar.TypeReg || !IsRuleFile(hdr.Name) || path.Base(hdr.Name) != hdr.Name {
			return nil, fmt.Errorf("rules: bundle: %q is not a plain .yar or .yara file", hdr.Name)
		}
		total += int(hdr.Size)
		if hdr.Size < 0 || total > maxBundle {
			return nil, fmt.Errorf("rules: bundle: more than %d bytes of rules", maxBundle)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("rules: bundle: %w", err)
		}
		srcs = append(srcs, Source{Name: Bucket + "/" + hdr.Name, Data: data})
	}
	if len(srcs) == 0 {
		return nil, errors.New("rules: bundle: no rule files")
	}
	return srcs, nil
}

// objectStore opens (creating it if needed) the rules bucket.
func objectStore(ctx context.Context, js jetstream.JetStream) (jetstream.ObjectStore, error) {
	return js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket: Bucket, Description: "the YARA rule set engines use: " + Object + ", a tar of .yar files",
	})
}

// Push compiles srcs (refusing a broken set) and stores them as the rule
// set every watching engine applies. It returns the set's version.
func Push(ctx context.Context, js jetstream.JetStream, srcs []Source) (*Set, error) {
	set, err := Compile(srcs, nil)
	if err != nil {
		return nil, err
	}
	b, err := Bundle(srcs)
	if err != nil {
		return nil, err
	}
	obs, err := objectStore(ctx, js)
	if err != nil {
		return nil, fmt.Errorf("rules: object store: %w", err)
	}
	if _, err := obs.PutBytes(ctx, Object, b); err != nil {
		return nil, fmt.Errorf("rules: push: %w", err)
	}
	return set, nil
}

// WatchBucket applies the bucket's rule set now (if it holds one) and at
// every update, until ctx ends. A broken set is logged and the one in use
// stays. It returns an error only when it cannot start watching.
func WatchBucket(ctx context.Context, js jetstream.JetStream, apply Apply, log *slog.Logger) error {
	obs, err := objectStore(ctx, js)
	if err != nil {
		return fmt.Errorf("rules: object store: %w", err)
	}
	w, err := obs.Watch(ctx)
	if err != nil {
		return fmt.Errorf("rules: watch: %w", err)
	}
	go func() {
		defer w.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case info, ok := <-w.Updates():
				if !ok {
					return
				}
				if info == nil || info.Name != Object || info.Deleted {
					continue
				}
				b, err := obs.GetBytes(ctx, Object)
				if err != nil {
					log.Warn("rule set unreadable; the one in use stays", "err", err)
					continue
				}
				srcs, err := Unbundle(b)
				var set *Set
				if err == nil {
					set, err = Compile(srcs, nil)
				}
				if err == nil {
					err = apply(set)
				}
				if err != nil {
					logRejected(log, Bucket, err)
					continue
				}
				log.Info("rule set applied", "from", Bucket, "version", set.Version, "rules", set.Rules)
			}
		}
	}()
	return nil
}
