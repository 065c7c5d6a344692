package localsecrets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/seatsync/seatsync/shared/seatsync"
)

// Store is a seatsync.SecretStore in a directory. It is safe for concurrent
// use, also by several processes sharing the directory: the last write wins
// and every read sees one whole write.
type Store struct {
	dir string
	now func() time.Time
}

var _ seatsync.SecretStore = (*Store)(nil)

// New returns a Store keeping its secrets in dir, creating dir (mode 0700)
// if it does not exist. It refuses a directory that its group or others can
// read, write or enter: the refresh token in it would be readable by other
// users of the machine.
func New(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("localsecrets: no directory given")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("localsecrets: create the secrets directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("localsecrets: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("localsecrets: %s is not a directory", dir)
	}
	// Windows reports made-up permission bits; its ACLs are not checked here.
	if perm := fi.Mode().Perm(); runtime.GOOS != "windows" && perm&0o077 != 0 {
		return nil, fmt.Errorf("localsecrets: the secrets directory %s can be used by other users (mode %04o); make it private with: chmod 700 %s", dir, perm, dir)
	}
	return &Store{dir: dir, now: time.Now}, nil
}

// file is the JSON document of one secret.
type file struct {
	Value       string            `json:"value"`
	ContentType string            `json:"contentType,omitempty"`
	Tags        map[string]string `json:"tags,omitempty"`
	ExpiresAt   *time.Time        `json:"expiresAt,omitempty"`
	UpdatedAt   time.Time         `json:"updatedAt"`
}

// path returns the file of the secret name. Names are lower-cased because
// Key Vault's are case-insensitive; CheckSecretName has already ruled out
// anything that could leave the directory.
func (s *Store) path(name string) string {
	return filepath.Join(s.dir, strings.ToLower(name)+".json")
}

// GetSecret returns the secret name and what is kept beside it: an error
// wrapping seatsync.ErrSecretNotFound if there is none, and one wrapping
// seatsync.ErrInvalidSecretName for a name Key Vault could not hold.
func (s *Store) GetSecret(ctx context.Context, name string) (seatsync.Secret, seatsync.SecretInfo, error) {
	if err := seatsync.CheckSecretName(name); err != nil {
		return seatsync.Secret{}, seatsync.SecretInfo{}, fmt.Errorf("localsecrets: get secret: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return seatsync.Secret{}, seatsync.SecretInfo{}, fmt.Errorf("localsecrets: get secret %q: %w", name, err)
	}
	b, err := os.ReadFile(s.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return seatsync.Secret{}, seatsync.SecretInfo{}, fmt.Errorf("localsecrets: get secret %q: %w", name, seatsync.ErrSecretNotFound)
	}
	if err != nil {
		return seatsync.Secret{}, seatsync.SecretInfo{}, fmt.Errorf("localsecrets: get secret %q: %w", name, err)
	}
	var f file
	if err := json.Unmarshal(b, &f); err != nil {
		// Not wrapped: a JSON syntax error quotes the offending character,
		// which may be part of the secret.
		return seatsync.Secret{}, seatsync.SecretInfo{}, fmt.Errorf("localsecrets: get secret %q: %s is not a valid secret file; delete it and grant consent again", name, s.path(name))
	}
	info := seatsync.SecretInfo{
		ContentType: f.ContentType,
		Tags:        f.Tags,
		ExpiresAt:   f.ExpiresAt,
		UpdatedAt:   f.UpdatedAt,
	}
	return seatsync.NewSecret(f.Value), info, nil
}

// SetSecret replaces the secret name with value and info (info.UpdatedAt is
// ignored: the store sets it, as Key Vault does). The write is atomic and
// durable once SetSecret returns. Errors never hold the value.
func (s *Store) SetSecret(ctx context.Context, name string, value seatsync.Secret, info seatsync.SecretInfo) error {
	if err := seatsync.CheckSecretName(name); err != nil {
		return fmt.Errorf("localsecrets: set secret: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("localsecrets: set secret %q: %w", name, err)
	}
	f := file{
		Value:       value.Reveal(),
		ContentType: info.ContentType,
		Tags:        info.Tags,
		UpdatedAt:   s.now().UTC(),
	}
	if info.ExpiresAt != nil {
		t := info.ExpiresAt.UTC()
		f.ExpiresAt = &t
	}
	b, err := json.Marshal(f)
	if err != nil {
		// Only the tags could fail, and they hold no secret; still, keep
		// the message our own.
		return fmt.Errorf("localsecrets: set secret %q: cannot encode it", name)
	}
	if err := writeAtomic(s.path(name), b); err != nil {
		return fmt.Errorf("localsecrets: set secret %q: %w", name, err)
	}
	return nil
}

// writeAtomic replaces path with b: a temporary file in the same directory
// (so that the rename does not cross file systems), synced before the rename
// so that a crash cannot leave the new name pointing at unwritten data, and
// the directory synced after so that the rename itself survives a crash.
// Temporary names start with "." and end in ".tmp", so a leftover one never
// reads as a secret.
func writeAtomic(path string, b []byte) (err error) {
	dir, base := filepath.Split(path)
	tmp, err := os.CreateTemp(dir, "."+base+".*.tmp") // mode 0600
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(b); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	return syncDir(dir)
}

// syncDir makes a rename in dir durable. Windows cannot open a directory
// for syncing, and its renames need no such step.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return err
	}
	return d.Close()
}
