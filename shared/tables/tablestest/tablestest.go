// Package tablestest connects tests to Azurite, which `make test` starts in
// memory (scripts/with-azurite) and names in SEATSYNC_TEST_TABLES_CONNECTION_STRING.
package tablestest

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/seatsync/seatsync/shared/tables"
)

// Env names the connection string of the Azurite that tests use.
const Env = "SEATSYNC_TEST_TABLES_CONNECTION_STRING"

// ConnectionString returns the test Azurite's connection string. Without one
// the test is skipped, and says how to run it; under CI (CI=true) that is a
// failure instead, so a misconfigured CI cannot pass by skipping.
func ConnectionString(t testing.TB) string {
	t.Helper()
	cs := os.Getenv(Env)
	if cs == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: CI must run the tests through 'make test', which starts Azurite", Env)
		}
		t.Skipf("skipped: needs Azurite; run 'make test' (it starts Azurite and sets %s)", Env)
	}
	return cs
}

// Service returns a client of the test Azurite.
func Service(t testing.TB) *tables.Service {
	t.Helper()
	svc, err := tables.NewFromConnectionString(ConnectionString(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// Isolated returns a client of the test Azurite whose table names carry a
// prefix of their own, so that the fixed table names of the state store and
// the queue do not meet another test's rows.
func Isolated(t testing.TB) *tables.Service {
	t.Helper()
	svc, err := tables.NewFromConnectionString(ConnectionString(t), &tables.Options{TablePrefix: Name("p")})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

// Name returns a table name no other test uses (letters and digits only).
func Name(prefix string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return prefix + "t" + hex.EncodeToString(b[:])
}
