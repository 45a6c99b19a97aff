package audit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/cordon-gateway/cordon"
	"github.com/cordon-gateway/cordon/audit/trail"
)

// External copies of signed checkpoints live in
//
//	<checkpoint_dir>/<log id>/<bus>/checkpoint-<size, 20 digits>.note
//	<checkpoint_dir>/<log id>/<bus>/boundary-<size, 20 digits>.note
//
// one file per checkpoint, written once and never overwritten, so a copy of
// the directory elsewhere (rsync, object storage with retention lock) only
// ever grows.

// maxNoteFile caps what verify reads from one checkpoint file.
const maxNoteFile = 64 << 10

func checkpointPath(dir string, cp *trail.Checkpoint) string {
	kind := "checkpoint"
	if cp.Kind == trail.KindBoundary {
		kind = "boundary"
	}
	return filepath.Join(dir, cp.LogID, cp.Bus.String(), fmt.Sprintf("%s-%020d.note", kind, cp.Size))
}

// WriteCheckpointFile stores cp's note under dir. A file already there with
// the same note is fine (a retry); a different one is an error, never
// overwritten: it means two logs claim the same place.
func WriteCheckpointFile(dir string, cp *trail.Checkpoint) error {
	if len(cp.Note) == 0 {
		return errors.New("audit: checkpoint is not signed")
	}
	path := checkpointPath(dir, cp)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("audit: checkpoint dir: %w", err)
	}
	if old, err := os.ReadFile(path); err == nil {
		if bytes.Equal(old, cp.Note) {
			return nil
		}
		return fmt.Errorf("audit: %s exists with a different checkpoint; refusing to overwrite", path)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("audit: checkpoint file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(cp.Note); err != nil {
		tmp.Close()
		return fmt.Errorf("audit: checkpoint file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("audit: checkpoint file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("audit: checkpoint file: %w", err)
	}
	// Link fails if the name exists: no overwrite, even racing another writer.
	if err := os.Link(tmp.Name(), path); err != nil {
		if old, rerr := os.ReadFile(path); rerr == nil && bytes.Equal(old, cp.Note) {
			return nil
		}
		return fmt.Errorf("audit: checkpoint file: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// externalNote is one file of the external checkpoint directory.
type externalNote struct {
	path string
	kind trail.Kind
	note []byte
}

// readCheckpointFiles lists the external copies for one bus of one log, in
// name order. A missing directory is no copies.
func readCheckpointFiles(dir, logID string, b cordon.Bus) ([]externalNote, error) {
	busDir := filepath.Join(dir, logID, b.String())
	entries, err := os.ReadDir(busDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit: read %s: %w", busDir, err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name() < entries[j].Name() })
	var out []externalNote
	for _, e := range entries {
		name := e.Name()
		var kind trail.Kind
		switch {
		case strings.HasPrefix(name, "checkpoint-") && strings.HasSuffix(name, ".note"):
			kind = trail.KindCheckpoint
		case strings.HasPrefix(name, "boundary-") && strings.HasSuffix(name, ".note"):
			kind = trail.KindBoundary
		default:
			continue
		}
		path := filepath.Join(busDir, name)
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("audit: read %s: %w", path, err)
		}
		b, err := io.ReadAll(io.LimitReader(f, maxNoteFile+1))
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("audit: read %s: %w", path, err)
		}
		out = append(out, externalNote{path: path, kind: kind, note: b})
	}
	return out, nil
}
