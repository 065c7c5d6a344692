package funchost

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecodeInvocation feeds arbitrary payloads to every decoder: none may
// panic, and whatever decodes must satisfy the decoders' own guarantees.
// Seeds: testdata/fuzz/FuzzDecodeInvocation (checked in) and the goldens.
func FuzzDecodeInvocation(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		inv, err := DecodeInvocation(body)
		if err != nil {
			return
		}
		if inv.Data == nil || inv.Metadata == nil {
			t.Fatal("decoded invocation with nil maps")
		}
		if m, err := inv.ServiceBus("message"); err == nil {
			if m.MessageID == "" || m.DeliveryCount < 1 {
				t.Fatalf("accepted message without id or count: %+v", m)
			}
		}
		_, _ = inv.Timer("timer")
		if r, err := inv.HTTP("req"); err == nil && (r.Method == "" || r.URL == "") {
			t.Fatalf("accepted request without method or URL: %+v", r)
		}
	})
}
