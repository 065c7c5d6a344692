package localsecrets

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/seatsync/seatsync/shared/seatsync"
)

const name = "seatsync-refresh-token-0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"

func newStore(t *testing.T) (*Store, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "secrets")
	s, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
}

// entries lists dir's names.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, de := range des {
		names = append(names, de.Name())
	}
	return names
}

func TestRoundTrip(t *testing.T) {
	s, _ := newStore(t)
	updated := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return updated }
	ctx := t.Context()
	exp := time.Date(2025, 5, 30, 8, 15, 42, 123_456_789, time.FixedZone("CET", 3600))
	tags := map[string]string{"partnerTenantId": "0f1e2d3c", "issuedAt": "2025-03-01T08:15:42Z"}

	if err := s.SetSecret(ctx, name, seatsync.NewSecret("first"), seatsync.SecretInfo{ContentType: "text/old"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSecret(ctx, name, seatsync.NewSecret("second"), seatsync.SecretInfo{
		ContentType: seatsync.RefreshTokenContentType, Tags: tags, ExpiresAt: &exp,
		UpdatedAt: time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC), // ignored: the store sets it
	}); err != nil {
		t.Fatal(err)
	}
	got, info, err := s.GetSecret(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if got.Reveal() != "second" {
		t.Errorf("value = %q, want the last write's", got.Reveal())
	}
	if info.ContentType != seatsync.RefreshTokenContentType || !maps.Equal(info.Tags, tags) {
		t.Errorf("info = %+v", info)
	}
	if info.ExpiresAt == nil || !info.ExpiresAt.Equal(exp) {
		t.Errorf("expires = %v, want %v", info.ExpiresAt, exp)
	}
	if !info.UpdatedAt.Equal(updated) {
		t.Errorf("updated = %v, want the store's clock %v", info.UpdatedAt, updated)
	}

	// Key Vault names are case-insensitive; so are these.
	if got, _, err := s.GetSecret(ctx, strings.ToUpper(name)); err != nil || got.Reveal() != "second" {
		t.Errorf("GetSecret(upper case) = %q, %v", got.Reveal(), err)
	}
}

func TestModes(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix modes")
	}
	s, dir := newStore(t)
	if err := s.SetSecret(t.Context(), name, seatsync.NewSecret("v"), seatsync.SecretInfo{}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Errorf("directory mode %04o, want 0700", perm)
	}
	fi, err = os.Stat(filepath.Join(dir, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("file mode %04o, want 0600", perm)
	}
}

func TestRefusesSharedDirectory(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix modes")
	}
	for _, mode := range []os.FileMode{0o755, 0o750, 0o701, 0o707} {
		t.Run(fmt.Sprintf("%04o", mode), func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "secrets")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(dir, mode); err != nil {
				t.Fatal(err)
			}
			_, err := New(dir)
			if err == nil {
				t.Fatal("New accepted it")
			}
			if !strings.Contains(err.Error(), "chmod 700 "+dir) {
				t.Errorf("error %q does not say how to fix it", err)
			}
		})
	}
	// A private existing directory is fine.
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := New(dir); err != nil {
		t.Errorf("New refused a 0700 directory: %v", err)
	}
}

func TestRefusesNonDirectory(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(f); err == nil {
		t.Error("New accepted a file")
	}
	if _, err := New(""); err == nil {
		t.Error("New accepted an empty directory name")
	}
}

func TestMissingIsNotFound(t *testing.T) {
	s, _ := newStore(t)
	_, _, err := s.GetSecret(t.Context(), name)
	if !errors.Is(err, seatsync.ErrSecretNotFound) {
		t.Fatalf("err = %v, want ErrSecretNotFound", err)
	}
}

func TestBadNames(t *testing.T) {
	s, dir := newStore(t)
	for _, n := range []string{"", "../escape", "a/b", "dot.ted", "under_score", strings.Repeat("a", 128)} {
		if err := s.SetSecret(t.Context(), n, seatsync.NewSecret("v"), seatsync.SecretInfo{}); !errors.Is(err, seatsync.ErrInvalidSecretName) {
			t.Errorf("SetSecret(%.20q) = %v, want ErrInvalidSecretName", n, err)
		}
		if _, _, err := s.GetSecret(t.Context(), n); !errors.Is(err, seatsync.ErrInvalidSecretName) {
			t.Errorf("GetSecret(%.20q) = %v, want ErrInvalidSecretName", n, err)
		}
	}
	if got := entries(t, dir); len(got) != 0 {
		t.Errorf("files written for invalid names: %v", got)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "escape.json")); err == nil {
		t.Error("a name escaped the directory")
	}
}

func TestAtomicWrite(t *testing.T) {
	s, dir := newStore(t)
	ctx := t.Context()
	for i := range 5 {
		if err := s.SetSecret(ctx, name, seatsync.NewSecret(fmt.Sprintf("v%d", i)), seatsync.SecretInfo{}); err != nil {
			t.Fatal(err)
		}
	}
	if got := entries(t, dir); len(got) != 1 || got[0] != name+".json" {
		t.Errorf("directory holds %v, want only the secret's file", got)
	}

	// A crash between creating the temporary file and renaming it leaves
	// the temporary behind, half written: reads still see the last
	// complete write, and the next write still succeeds.
	leftover := filepath.Join(dir, "."+name+".json.123456.tmp")
	if err := os.WriteFile(leftover, []byte(`{"value":"half-writ`), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, _, err := s.GetSecret(ctx, name); err != nil || got.Reveal() != "v4" {
		t.Errorf("after a crash GetSecret = %q, %v; want the last complete write", got.Reveal(), err)
	}
	if err := s.SetSecret(ctx, name, seatsync.NewSecret("v5"), seatsync.SecretInfo{}); err != nil {
		t.Fatal(err)
	}
	if got, _, err := s.GetSecret(ctx, name); err != nil || got.Reveal() != "v5" {
		t.Errorf("GetSecret = %q, %v; want v5", got.Reveal(), err)
	}
}

func TestCorruptFileErrorHidesValue(t *testing.T) {
	s, dir := newStore(t)
	const value = "Zsecret-token-value"
	// A JSON syntax error would quote the character it stopped at.
	if err := os.WriteFile(filepath.Join(dir, name+".json"), []byte(`{"value":`+value+`}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.GetSecret(t.Context(), name)
	if err == nil {
		t.Fatal("a corrupt file read as a secret")
	}
	if strings.Contains(err.Error(), "'Z'") || strings.Contains(err.Error(), value) {
		t.Errorf("error quotes the file's content: %q", err)
	}
	if errors.Is(err, seatsync.ErrSecretNotFound) {
		t.Error("a corrupt file reads as a missing secret")
	}
}

func TestConcurrentWriters(t *testing.T) {
	_, dir := newStore(t)
	ctx := t.Context()
	// Two stores on one directory stand for two processes.
	stores := make([]*Store, 2)
	for i := range stores {
		s, err := New(dir)
		if err != nil {
			t.Fatal(err)
		}
		stores[i] = s
	}
	const writers, writes = 8, 20
	valid := map[string]bool{}
	for w := range writers {
		for i := range writes {
			valid[fmt.Sprintf("writer%d-write%d-%s", w, i, strings.Repeat("x", 4096))] = true
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers*writes*2)
	for w := range writers {
		wg.Go(func() {
			s := stores[w%2]
			for i := range writes {
				v := fmt.Sprintf("writer%d-write%d-%s", w, i, strings.Repeat("x", 4096))
				if err := s.SetSecret(ctx, name, seatsync.NewSecret(v), seatsync.SecretInfo{Tags: map[string]string{"writer": fmt.Sprint(w)}}); err != nil {
					errs <- err
				}
			}
		})
		// Readers alongside: with atomic renames a read sees a whole
		// file or none (before the first write), never a torn one.
		wg.Go(func() {
			for range writes {
				got, _, err := stores[(w+1)%2].GetSecret(ctx, name)
				switch {
				case errors.Is(err, seatsync.ErrSecretNotFound):
				case err != nil:
					errs <- err
				case !valid[got.Reveal()]:
					errs <- errors.New("read a value no writer wrote")
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got, _, err := stores[0].GetSecret(ctx, name)
	if err != nil || !valid[got.Reveal()] {
		t.Errorf("after the writers GetSecret = %.30q…, %v", got.Reveal(), err)
	}
	if got := entries(t, dir); len(got) != 1 {
		t.Errorf("directory holds %v, want only the secret's file", got)
	}
}
