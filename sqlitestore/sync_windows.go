package sqlitestore

// syncDir does nothing on Windows, which cannot open a directory to sync
// it; NTFS journals the rename itself.
func syncDir(string) error { return nil }
