package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"athena/engine"
	"athena/internal/filewatch"
	"athena/internal/formats"
)

// maxPasswordFile bounds what is read of an --archive-passwords file:
// formats.MaxPasswords lines of formats.MaxPasswordBytes leave plenty of
// room for comments.
const maxPasswordFile = 1 << 20

// loadPasswords reads and checks the operator's password list, as the
// setting the file processor takes. Its version names the parsed list, so
// a change of comments or layout alone changes nothing.
func loadPasswords(path string) (engine.Setting, error) {
	f, err := os.Open(path)
	if err != nil {
		return engine.Setting{}, fmt.Errorf("archive passwords: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxPasswordFile+1))
	if err != nil {
		return engine.Setting{}, fmt.Errorf("archive passwords: %w", err)
	}
	if len(data) > maxPasswordFile {
		return engine.Setting{}, fmt.Errorf("archive passwords: %s: larger than %d bytes", path, maxPasswordFile)
	}
	list, err := formats.ParsePasswords(data)
	if err != nil {
		return engine.Setting{}, fmt.Errorf("archive passwords: %s: %w", path, err)
	}
	return engine.Setting{Kind: formats.PasswordsKind, Version: formats.PasswordsVersion(list), Data: data}, nil
}

// watchPasswords checks the password file every interval and applies its
// list when it changed; an unreadable or invalid file is logged and the
// list in use stays. The file is read only when its size or modification
// time changed. It returns when ctx ends; the caller loaded the first list
// (version current).
func watchPasswords(ctx context.Context, eng *engine.Engine, path string, interval time.Duration, current string, log *slog.Logger) {
	filewatch.Poll(ctx, []string{path}, nil, interval, func() {
		s, err := loadPasswords(path)
		if err == nil && s.Version == current {
			return
		}
		if err == nil {
			err = eng.Configure(ctx, s)
		}
		if err != nil {
			log.Error("password list rejected; the one in use stays", "err", err)
			return
		}
		current = s.Version
		log.Info("password list applied", "version", s.Version)
	})
}
