package mscloudsim_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The simulator is for tests and development: the seatsync binary must not
// link it.
func TestNotLinkedIntoSeatsync(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	out, err := exec.Command(goTool, "list", "-deps", "github.com/seatsync/seatsync/functions/...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "github.com/seatsync/seatsync/functions\n") {
		t.Fatalf("go list did not list the seatsync binary's package:\n%s", out)
	}
	for _, dep := range strings.Fields(string(out)) {
		if strings.Contains(dep, "mscloudsim") {
			t.Errorf("the seatsync binary depends on %s", dep)
		}
	}
}
