package main

import (
	"fmt"
	"maps"
	"strings"
	"testing"
)

// Distinctive secret values: no error text may ever contain them.
const (
	secretAccountKey   = "SUPERSECRETKEY"
	secretClientSecret = "CLIENTSECRETVALUE~xyz"
	secretAPIKey       = "SHORTAPIKEY1234" // 15 characters: too short
)

// testConnString is a syntactically valid storage connection string whose
// account key is distinctive.
const testConnString = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=" + secretAccountKey + ";TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"

// mapGetenv returns a getenv over m only; the process environment is never read.
func mapGetenv(m map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

// serveEnv is the minimum standalone mode needs, plus overrides (a value of
// "-" deletes the setting).
func serveEnv(over map[string]string) map[string]string {
	return mergeEnv(map[string]string{envTablesConnString: testConnString}, over)
}

// handlerEnv is the minimum handler mode needs, plus overrides.
func handlerEnv(over map[string]string) map[string]string {
	return mergeEnv(map[string]string{
		envTablesConnString:  testConnString,
		envKeyVaultURL:       "https://kv.example.net",
		envServiceBus:        "sb.example.net",
		envCustomHandlerPort: "40123",
	}, over)
}

func mergeEnv(base, over map[string]string) map[string]string {
	m := maps.Clone(base)
	for k, v := range over {
		if v == "-" {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return m
}

// configProblems splits a LoadConfig error into its one-per-setting lines.
func configProblems(err error) []string {
	s := strings.TrimPrefix(err.Error(), "configuration: ")
	return strings.Split(s, "\n")
}

func TestLoadConfigDefaults(t *testing.T) {
	c, err := LoadConfig(ModeServe, mapGetenv(serveEnv(nil)))
	if err != nil {
		t.Fatalf("minimal serve settings refused: %v", err)
	}
	for _, f := range []struct{ name, got, want string }{
		{"LoginURL", c.LoginURL, "https://login.microsoftonline.com"},
		{"GraphURL", c.GraphURL, "https://graph.microsoft.com"},
		{"PartnerCenterURL", c.PartnerCenterURL, "https://api.partnercenter.microsoft.com"},
		{"SKUCatalogURL", c.SKUCatalogURL, "https://download.microsoft.com/download/e/3/e/e3e9faf2-f28b-490a-9ada-c6089a1fc5b0/Product%20names%20and%20service%20plan%20identifiers%20for%20licensing.csv"},
		{"Queue", c.Queue, "tenant-sync"},
		{"Listen", c.Listen, "127.0.0.1:7071"},
		{"DataDir", c.DataDir, ".seatsync"},
		{"LogLevel", c.LogLevel, "info"},
		{"PublicURL", c.PublicURL, ""},
		{"KeyVaultURL", c.KeyVaultURL, ""},
		{"TablesURL", c.TablesURL, ""},
	} {
		if f.got != f.want {
			t.Errorf("%s = %q, want %q", f.name, f.got, f.want)
		}
	}
	if c.SyncSchedule == nil || c.SyncSchedule.String() != "0 0 2 * * *" {
		t.Errorf("SyncSchedule = %v, want 0 0 2 * * *", c.SyncSchedule)
	}
	if c.SyncConcurrency != 16 {
		t.Errorf("SyncConcurrency = %d, want 16", c.SyncConcurrency)
	}
	if c.Mode != ModeServe {
		t.Errorf("Mode = %v, want ModeServe", c.Mode)
	}
	if c.TablesConnectionString.Reveal() != testConnString {
		t.Errorf("TablesConnectionString not kept")
	}
	if !c.APIKey.IsZero() {
		t.Errorf("APIKey set without SEATSYNC_API_KEY")
	}
}

// TestLoadConfigModes checks which settings each mode requires: serve needs
// only a tables setting; handler also needs Key Vault, Service Bus and the
// port the host gives.
func TestLoadConfigModes(t *testing.T) {
	tests := []struct {
		name string
		mode Mode
		env  map[string]string
		// want names the settings the error must report, one line each;
		// none means the settings must be accepted.
		want []string
	}{
		{"serve with a connection string", ModeServe, serveEnv(nil), nil},
		{"serve with a tables URL", ModeServe, map[string]string{envTablesURL: "https://acct.table.core.windows.net/"}, nil},
		{"serve ignores the handler port", ModeServe, serveEnv(map[string]string{envCustomHandlerPort: "nonsense"}), nil},
		{"serve with nothing", ModeServe, map[string]string{}, []string{envTablesConnString + " or " + envTablesURL}},
		{"serve with both tables settings", ModeServe, serveEnv(map[string]string{envTablesURL: "https://acct.table.core.windows.net"}), []string{envTablesConnString + " and " + envTablesURL}},
		{"serve with a blank connection string", ModeServe, map[string]string{envTablesConnString: "   "}, []string{envTablesConnString + " or " + envTablesURL}},
		{"handler complete", ModeHandler, handlerEnv(nil), nil},
		{"handler without Key Vault", ModeHandler, handlerEnv(map[string]string{envKeyVaultURL: "-"}), []string{envKeyVaultURL}},
		{"handler without Service Bus", ModeHandler, handlerEnv(map[string]string{envServiceBus: "-"}), []string{envServiceBus}},
		{"handler without port", ModeHandler, handlerEnv(map[string]string{envCustomHandlerPort: "-"}), []string{envCustomHandlerPort}},
		{"handler with port 0", ModeHandler, handlerEnv(map[string]string{envCustomHandlerPort: "0"}), []string{envCustomHandlerPort}},
		{"handler with port 65536", ModeHandler, handlerEnv(map[string]string{envCustomHandlerPort: "65536"}), []string{envCustomHandlerPort}},
		{"handler with a non-numeric port", ModeHandler, handlerEnv(map[string]string{envCustomHandlerPort: "http"}), []string{envCustomHandlerPort}},
		{"handler with a Service Bus URL", ModeHandler, handlerEnv(map[string]string{envServiceBus: "sb://sb.example.net/"}), []string{envServiceBus}},
		{"handler with a Service Bus connection string", ModeHandler, handlerEnv(map[string]string{envServiceBus: "Endpoint=sb.example.net;SharedAccessKey=x"}), []string{envServiceBus}},
		{"handler with only tables", ModeHandler, serveEnv(nil), []string{envKeyVaultURL, envServiceBus, envCustomHandlerPort}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadConfig(tt.mode, mapGetenv(tt.env))
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if c.Mode != tt.mode {
					t.Errorf("Mode = %v, want %v", c.Mode, tt.mode)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted; want an error naming %v", tt.want)
			}
			checkProblems(t, err, tt.want)
		})
	}
	t.Run("handler values", func(t *testing.T) {
		c, err := LoadConfig(ModeHandler, mapGetenv(handlerEnv(map[string]string{envKeyVaultURL: "https://kv.example.net/"})))
		if err != nil {
			t.Fatal(err)
		}
		if c.CustomHandlerPort != 40123 || c.ServiceBusNamespace != "sb.example.net" || c.KeyVaultURL != "https://kv.example.net" {
			t.Errorf("got port %d, namespace %q, Key Vault %q", c.CustomHandlerPort, c.ServiceBusNamespace, c.KeyVaultURL)
		}
	})
}

// checkProblems asserts err reports exactly the settings in want, one line
// each, in order, each line starting with the setting's name.
func checkProblems(t *testing.T, err error, want []string) {
	t.Helper()
	if !strings.HasPrefix(err.Error(), "configuration: ") {
		t.Errorf("error does not start with \"configuration: \": %q", err)
	}
	lines := configProblems(err)
	if len(lines) != len(want) {
		t.Fatalf("got %d problems, want %d (%v):\n%v", len(lines), len(want), want, err)
	}
	for i, name := range want {
		if !strings.HasPrefix(lines[i], name+": ") {
			t.Errorf("problem %d = %q, want it to name %s", i, lines[i], name)
		}
	}
}

// TestLoadConfigValues checks each setting's validation: every malformed
// value is refused with an error naming the setting; good values are kept.
func TestLoadConfigValues(t *testing.T) {
	const guid = "4c9d0a2e-6b1f-4e2a-9c3d-5e6f7a8b9c0d"
	tests := []struct {
		setting, value string
		ok             bool
		// get reads the accepted value back; want is what it must be.
		get  func(Config) string
		want string
	}{
		// Endpoints: https anywhere, http only on loopback.
		{envGraphURL, "http://example.com", false, nil, ""},
		{envGraphURL, "http://10.0.0.1:8080", false, nil, ""},
		{envGraphURL, "http://127.0.0.2.example.com", false, nil, ""},
		{envGraphURL, "http://127.0.0.1:9999", true, func(c Config) string { return c.GraphURL }, "http://127.0.0.1:9999"},
		{envGraphURL, "http://localhost", true, func(c Config) string { return c.GraphURL }, "http://localhost"},
		{envGraphURL, "http://[::1]:8080/", true, func(c Config) string { return c.GraphURL }, "http://[::1]:8080"},
		{envGraphURL, "https://graph.example.com/v1.0/", true, func(c Config) string { return c.GraphURL }, "https://graph.example.com/v1.0"},
		{envGraphURL, "graph.microsoft.com", false, nil, ""},
		{envGraphURL, "ftp://graph.microsoft.com", false, nil, ""},
		{envGraphURL, "https://graph.microsoft.com?x=1", false, nil, ""},
		{envGraphURL, "https://graph.microsoft.com/#frag", false, nil, ""},
		{envLoginURL, "https://user:pass@login.example.com", false, nil, ""},
		{envLoginURL, "http://user@localhost:8080", false, nil, ""},
		{envLoginURL, "http://127.0.0.1:9001/", true, func(c Config) string { return c.LoginURL }, "http://127.0.0.1:9001"},
		{envPartnerCenterURL, "http://pc.example.com", false, nil, ""},
		{envPartnerCenterURL, "https://pc.example.com", true, func(c Config) string { return c.PartnerCenterURL }, "https://pc.example.com"},
		{envSKUCatalogURL, "https://u:p@example.com/skus.csv", false, nil, ""},
		{envSKUCatalogURL, "http://example.com/skus.csv", false, nil, ""},
		{envSKUCatalogURL, "http://127.0.0.1:9002/skus.csv", true, func(c Config) string { return c.SKUCatalogURL }, "http://127.0.0.1:9002/skus.csv"},
		{envPublicURL, "http://seatsync.example.com", false, nil, ""},
		{envPublicURL, "https://seatsync.example.com/", true, func(c Config) string { return c.PublicURL }, "https://seatsync.example.com"},
		{envKeyVaultURL, "http://kv.example.net", false, nil, ""},
		{envKeyVaultURL, "https://kv.vault.azure.net/", true, func(c Config) string { return c.KeyVaultURL }, "https://kv.vault.azure.net"},
		// Client id: a GUID, if set.
		{envClientID, "not-a-guid", false, nil, ""},
		{envClientID, "{" + guid + "}", false, nil, ""},
		{envClientID, guid, true, func(c Config) string { return c.ClientID }, guid},
		// Schedule: six NCRONTAB fields.
		{envSyncSchedule, "0 2 * * *", false, nil, ""},
		{envSyncSchedule, "0 0 25 * * *", false, nil, ""},
		{envSyncSchedule, "every night", false, nil, ""},
		{envSyncSchedule, "0 */30 * * * *", true, func(c Config) string { return c.SyncSchedule.String() }, "0 */30 * * * *"},
		// Concurrency: 1 to 256.
		{envSyncConcurrency, "0", false, nil, ""},
		{envSyncConcurrency, "257", false, nil, ""},
		{envSyncConcurrency, "-1", false, nil, ""},
		{envSyncConcurrency, "eight", false, nil, ""},
		{envSyncConcurrency, "1", true, func(c Config) string { return fmt.Sprint(c.SyncConcurrency) }, "1"},
		{envSyncConcurrency, " 256 ", true, func(c Config) string { return fmt.Sprint(c.SyncConcurrency) }, "256"},
		// API key: at least 16 characters.
		{envAPIKey, secretAPIKey, false, nil, ""},
		{envAPIKey, "0123456789abcdef", true, func(c Config) string { return c.APIKey.Reveal() }, "0123456789abcdef"},
		// Listen: host:port.
		{envListen, "localhost", false, nil, ""},
		{envListen, "127.0.0.1:", false, nil, ""},
		{envListen, "7071", false, nil, ""},
		{envListen, "0.0.0.0:8080", true, func(c Config) string { return c.Listen }, "0.0.0.0:8080"},
		{envListen, ":8080", true, func(c Config) string { return c.Listen }, ":8080"},
		// Log level.
		{envLogLevel, "verbose", false, nil, ""},
		{envLogLevel, "trace", false, nil, ""},
		{envLogLevel, "DEBUG", true, func(c Config) string { return c.LogLevel }, "debug"},
		{envLogLevel, "warn", true, func(c Config) string { return c.LogLevel }, "warn"},
		// Queue name.
		{envQueue, "tenant/sync", false, nil, ""},
		{envQueue, "-leading", false, nil, ""},
		{envQueue, "nightly.tenant_sync-2", true, func(c Config) string { return c.Queue }, "nightly.tenant_sync-2"},
		// Tables.
		{envTablesConnString, "UseDevelopmentStorage=true", false, nil, ""},
		{envDataDir, "/var/lib/seatsync", true, func(c Config) string { return c.DataDir }, "/var/lib/seatsync"},
	}
	for _, tt := range tests {
		t.Run(tt.setting+"="+tt.value, func(t *testing.T) {
			// Handler mode validates every setting serve mode does, and more.
			for _, mode := range []Mode{ModeServe, ModeHandler} {
				base := serveEnv
				if mode == ModeHandler {
					base = handlerEnv
				}
				c, err := LoadConfig(mode, mapGetenv(base(map[string]string{tt.setting: tt.value})))
				if !tt.ok {
					if err == nil {
						t.Fatalf("mode %v: accepted; want an error naming %s", mode, tt.setting)
					}
					checkProblems(t, err, []string{tt.setting})
					continue
				}
				if err != nil {
					t.Fatalf("mode %v: refused: %v", mode, err)
				}
				if got := tt.get(c); got != tt.want {
					t.Errorf("mode %v: got %q, want %q", mode, got, tt.want)
				}
			}
		})
	}
}

func TestLoadConfigReportsEveryProblem(t *testing.T) {
	_, err := LoadConfig(ModeHandler, mapGetenv(map[string]string{
		envClientID:          "nope",
		envGraphURL:          "http://example.com",
		envSyncSchedule:      "daily",
		envSyncConcurrency:   "0",
		envAPIKey:            "short",
		envListen:            "nowhere",
		envLogLevel:          "loud",
		envCustomHandlerPort: "x",
	}))
	if err == nil {
		t.Fatal("accepted")
	}
	// In the order LoadConfig checks them.
	checkProblems(t, err, []string{
		envClientID,
		envGraphURL,
		envKeyVaultURL,
		envTablesConnString + " or " + envTablesURL,
		envServiceBus,
		envSyncSchedule,
		envCustomHandlerPort,
		envAPIKey,
		envListen,
		envSyncConcurrency,
		envLogLevel,
	})
}

// TestLoadConfigNeverEchoesSecrets: the storage account key, the client
// secret and the API key reach no error text and no printed Config.
func TestLoadConfigNeverEchoesSecrets(t *testing.T) {
	// Plus credentials put where an endpoint belongs.
	secrets := []string{secretAccountKey, secretClientSecret, secretAPIKey, "URLPASSWORD", "SASSIGNATURE"}
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"connection string without AccountName", map[string]string{
			envTablesConnString: "DefaultEndpointsProtocol=https;AccountKey=" + secretAccountKey + ";EndpointSuffix=core.windows.net",
			envClientSecret:     secretClientSecret,
		}, []string{envTablesConnString}},
		{"both tables settings", map[string]string{
			envTablesConnString: testConnString,
			envTablesURL:        "https://acct.table.core.windows.net",
			envClientSecret:     secretClientSecret,
		}, []string{envTablesConnString + " and " + envTablesURL}},
		{"bad client id next to its secret", serveEnv(map[string]string{
			envClientID:     "not-a-guid",
			envClientSecret: secretClientSecret,
		}), []string{envClientID}},
		{"short API key", serveEnv(map[string]string{
			envAPIKey:       secretAPIKey,
			envClientSecret: secretClientSecret,
		}), []string{envAPIKey}},
		{"password in an endpoint", serveEnv(map[string]string{
			envGraphURL: "https://admin:URLPASSWORD@graph.example.com",
			envLoginURL: "http://admin:URLPASSWORD@example.com",
		}), []string{envLoginURL, envGraphURL}},
		{"SAS token in the tables URL", map[string]string{
			envTablesURL: "https://acct.table.core.windows.net/?sv=2024-01-01&sig=SASSIGNATURE",
		}, []string{envTablesURL}},
		{"everything wrong", map[string]string{
			envTablesConnString: "AccountKey=" + secretAccountKey,
			envClientSecret:     secretClientSecret,
			envAPIKey:           secretAPIKey,
			envLogLevel:         "loud",
		}, []string{envTablesConnString, envAPIKey, envLogLevel}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := LoadConfig(ModeServe, mapGetenv(tt.env))
			if err == nil {
				t.Fatal("accepted")
			}
			checkProblems(t, err, tt.want)
			printed := err.Error() + fmt.Sprintf("%v %+v %#v", c, c, c)
			for _, s := range secrets {
				if strings.Contains(printed, s) {
					t.Errorf("secret %q reached the error or the printed config:\n%s", s, printed)
				}
			}
		})
	}
}

func TestTablePrefixSetting(t *testing.T) {
	env := func(prefix string) func(string) (string, bool) {
		return func(name string) (string, bool) {
			switch name {
			case envTablesConnString:
				return "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;TableEndpoint=http://127.0.0.1:1/devstoreaccount1;", true
			case envTablePrefix:
				return prefix, true
			}
			return "", false
		}
	}
	c, err := LoadConfig(ModeServe, env("prod2"))
	if err != nil || c.TablePrefix != "prod2" {
		t.Fatalf("prefix prod2: %+v, %v", c.TablePrefix, err)
	}
	for _, bad := range []string{"2prod", "prod-2", "averyveryverylongprefix"} {
		if _, err := LoadConfig(ModeServe, env(bad)); err == nil || !strings.Contains(err.Error(), envTablePrefix) {
			t.Errorf("prefix %q: err = %v", bad, err)
		}
	}
}
