package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// The sample settings file and the README must name every setting the app
// reads, and the sample no setting it does not.
func TestSettingsAreDocumented(t *testing.T) {
	b, err := os.ReadFile("../local.settings.sample.json")
	if err != nil {
		t.Fatal(err)
	}
	var sample struct {
		Values map[string]string `json:"Values"`
	}
	if err := json.Unmarshal(b, &sample); err != nil {
		t.Fatalf("local.settings.sample.json: %v", err)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, name := range settingNames() {
		known[name] = true
		if _, ok := sample.Values[name]; !ok {
			t.Errorf("local.settings.sample.json lacks %s", name)
		}
		if !strings.Contains(string(readme), "`"+name+"`") {
			t.Errorf("README.md does not document %s", name)
		}
	}
	for name := range sample.Values {
		if strings.HasPrefix(name, "SEATSYNC_") && !known[name] {
			t.Errorf("local.settings.sample.json names %s, which the app does not read", name)
		}
	}
	// The sample is what LoadConfig accepts, in both modes.
	env := func(name string) (string, bool) {
		if name == envCustomHandlerPort {
			return "7072", true
		}
		v, ok := sample.Values[name]
		return v, ok
	}
	for _, mode := range []Mode{ModeServe, ModeHandler} {
		if _, err := LoadConfig(mode, env); err != nil {
			t.Errorf("the sample settings do not load (mode %d): %v", mode, err)
		}
	}
}
