package sqlitestore

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
)

// Backup writes a copy of the database to path while the store is in use:
// the copy is the database as of one instant (SQLite's VACUUM INTO, which
// reads in one read transaction of its own, so units of work go on
// committing meanwhile and none is half in the copy). The copy is written
// beside path, synced to the disk, and then renamed to path, replacing any
// file there, so path always holds either what it held before or a whole
// copy. The copy is a database like any other: [Open] it where it is, or,
// to restore it, stop every process that uses the database, delete the
// database's file and its -wal and -shm files, and move the copy in its
// place.
//
// It fails with ErrUnavailable if the copy cannot be written, or with
// ctx's error; path is then unchanged.
func (s *Store) Backup(ctx context.Context, path string) error {
	const op = "backup"
	if s.closed.Load() {
		return &Error{Op: op, Err: ErrUnavailable, cause: "the store is closed"}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return &Error{Op: op, Err: ErrUnavailable, cause: err.Error()}
	}
	if abs == s.path {
		return &Error{Op: op, Err: ErrUnavailable, cause: "the backup would replace the database itself"}
	}
	dir := filepath.Dir(abs)
	// VACUUM INTO writes a file that does not exist or is empty.
	f, err := os.CreateTemp(dir, "."+filepath.Base(abs)+".partial-*")
	if err != nil {
		return &Error{Op: op, Err: ErrUnavailable, cause: err.Error()}
	}
	tmp := f.Name()
	_ = f.Close()
	done := false
	defer func() {
		if !done {
			_ = os.Remove(tmp)
		}
	}()
	if err := s.vacuumInto(ctx, tmp); err != nil {
		return err
	}
	// SQLite does not sync what VACUUM INTO writes.
	if err := syncFile(tmp); err != nil {
		return &Error{Op: op, Err: ErrUnavailable, cause: err.Error()}
	}
	if err := os.Rename(tmp, abs); err != nil {
		return &Error{Op: op, Err: ErrUnavailable, cause: err.Error()}
	}
	done = true
	if err := syncDir(dir); err != nil {
		return &Error{Op: op, Err: ErrUnavailable, cause: "the copy is in place, but its directory could not be synced: " + err.Error()}
	}
	return nil
}

func syncFile(name string) error {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// vacuumInto writes the copy, on a connection of its own: the readers are
// query_only, which refuses VACUUM INTO, and the writer must not wait for
// a backup.
func (s *Store) vacuumInto(ctx context.Context, path string) error {
	const op = "backup"
	if err := ctx.Err(); err != nil {
		return err
	}
	db, err := sql.Open("sqlite", dsn(s.path, s.cfg, false))
	if err != nil {
		return translate(ctx, op, err)
	}
	defer db.Close()
	_, err = db.ExecContext(ctx, "VACUUM INTO ?", path)
	return translate(ctx, op, err)
}
