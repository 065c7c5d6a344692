package main

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/seatsync/seatsync/shared/ncrontab"
	"github.com/seatsync/seatsync/shared/seatsync"
)

// Mode is how the binary runs.
type Mode int

const (
	// ModeHandler: under the Azure Functions host (custom handler).
	ModeHandler Mode = iota
	// ModeServe: standalone, seatsync serve.
	ModeServe
)

// Setting names, as DESIGN.md and local.settings.sample.json list them.
const (
	envClientID          = "SEATSYNC_CLIENT_ID"
	envClientSecret      = "SEATSYNC_CLIENT_SECRET"
	envPublicURL         = "SEATSYNC_PUBLIC_URL"
	envLoginURL          = "SEATSYNC_LOGIN_URL"
	envGraphURL          = "SEATSYNC_GRAPH_URL"
	envPartnerCenterURL  = "SEATSYNC_PARTNER_CENTER_URL"
	envSKUCatalogURL     = "SEATSYNC_SKU_CATALOG_URL"
	envKeyVaultURL       = "SEATSYNC_KEYVAULT_URL"
	envTablesConnString  = "SEATSYNC_TABLES_CONNECTION_STRING"
	envTablesURL         = "SEATSYNC_TABLES_URL"
	envTablePrefix       = "SEATSYNC_TABLE_PREFIX"
	envServiceBus        = "ServiceBusConnection__fullyQualifiedNamespace"
	envQueue             = "SEATSYNC_QUEUE"
	envSyncSchedule      = "SEATSYNC_SYNC_SCHEDULE"
	envAPIKey            = "SEATSYNC_API_KEY"
	envListen            = "SEATSYNC_LISTEN"
	envDataDir           = "SEATSYNC_DATA_DIR"
	envSyncConcurrency   = "SEATSYNC_SYNC_CONCURRENCY"
	envLogLevel          = "SEATSYNC_LOG_LEVEL"
	envCustomHandlerPort = "FUNCTIONS_CUSTOMHANDLER_PORT"
)

// settingNames lists every setting the app reads (the host's own
// FUNCTIONS_CUSTOMHANDLER_PORT aside), for the sample and README checks.
func settingNames() []string {
	return []string{envClientID, envClientSecret, envPublicURL, envLoginURL, envGraphURL, envPartnerCenterURL,
		envSKUCatalogURL, envKeyVaultURL, envTablesConnString, envTablesURL, envTablePrefix, envServiceBus, envQueue, envSyncSchedule,
		envAPIKey, envListen, envDataDir, envSyncConcurrency, envLogLevel}
}

// Config is every setting, loaded and validated once at start.
type Config struct {
	Mode Mode

	ClientID     string
	ClientSecret seatsync.Secret
	PublicURL    string

	LoginURL         string
	GraphURL         string
	PartnerCenterURL string
	SKUCatalogURL    string

	KeyVaultURL string

	// Exactly one of these: a connection string (Azurite, or a key-based
	// account) or the table endpoint for managed identity.
	TablesConnectionString seatsync.Secret
	TablesURL              string
	// TablePrefix goes before every table name (several deployments in
	// one storage account).
	TablePrefix string

	ServiceBusNamespace string
	Queue               string
	SyncSchedule        *ncrontab.Schedule

	// Handler mode.
	CustomHandlerPort int

	// Standalone mode.
	APIKey          seatsync.Secret // empty: generated on first run
	Listen          string
	DataDir         string
	SyncConcurrency int

	LogLevel string
}

// LoadConfig reads the settings through getenv (os.LookupEnv) and validates
// them for mode. Every problem is reported at once, each naming its setting.
func LoadConfig(mode Mode, getenv func(string) (string, bool)) (Config, error) {
	get := func(name string) string {
		v, _ := getenv(name)
		return strings.TrimSpace(v)
	}
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}
	c := Config{Mode: mode}

	c.ClientID = get(envClientID)
	if c.ClientID != "" && !seatsync.IsGUID(c.ClientID) {
		bad(envClientID, "must be the app registration's application (client) id, a GUID")
	}
	c.ClientSecret = seatsync.NewSecret(get(envClientSecret))

	endpoint := func(name, def string, required bool) string {
		v := get(name)
		if v == "" {
			v = def
		}
		if v == "" {
			if required {
				bad(name, "is required")
			}
			return ""
		}
		u, err := checkEndpoint(v)
		if err != nil {
			bad(name, "%v", err)
		}
		return u
	}
	c.PublicURL = endpoint(envPublicURL, "", false)
	c.LoginURL = endpoint(envLoginURL, "https://login.microsoftonline.com", true)
	c.GraphURL = endpoint(envGraphURL, "https://graph.microsoft.com", true)
	c.PartnerCenterURL = endpoint(envPartnerCenterURL, "https://api.partnercenter.microsoft.com", true)
	c.SKUCatalogURL = endpoint(envSKUCatalogURL, "https://download.microsoft.com/download/e/3/e/e3e9faf2-f28b-490a-9ada-c6089a1fc5b0/Product%20names%20and%20service%20plan%20identifiers%20for%20licensing.csv", true)
	// Key Vault is optional standalone (secrets go to local files there).
	c.KeyVaultURL = endpoint(envKeyVaultURL, "", mode == ModeHandler)

	c.TablesConnectionString = seatsync.NewSecret(get(envTablesConnString))
	c.TablesURL = get(envTablesURL)
	switch {
	case c.TablesConnectionString.IsZero() && c.TablesURL == "":
		bad(envTablesConnString+" or "+envTablesURL, "one is required (Azurite's connection string locally, the table endpoint in Azure)")
	case !c.TablesConnectionString.IsZero() && c.TablesURL != "":
		bad(envTablesConnString+" and "+envTablesURL, "set only one of them")
	case c.TablesURL != "":
		c.TablesURL = endpoint(envTablesURL, "", true)
	default:
		// Never echo the value: it holds the account key.
		if !strings.Contains(c.TablesConnectionString.Reveal(), "AccountName=") {
			bad(envTablesConnString, "is not a storage connection string (want DefaultEndpointsProtocol=…;AccountName=…;AccountKey=…;TableEndpoint=…)")
		}
	}

	c.TablePrefix = get(envTablePrefix)
	if !regexp.MustCompile(`^([A-Za-z][A-Za-z0-9]{0,19})?$`).MatchString(c.TablePrefix) {
		bad(envTablePrefix, "must be up to 20 letters and digits, starting with a letter")
	}

	c.ServiceBusNamespace = get(envServiceBus)
	if c.ServiceBusNamespace != "" {
		if strings.Contains(c.ServiceBusNamespace, "://") || strings.ContainsAny(c.ServiceBusNamespace, "/ ;") {
			bad(envServiceBus, "must be the namespace host name, such as contoso.servicebus.windows.net")
		}
	} else if mode == ModeHandler {
		bad(envServiceBus, "is required in Azure (the Service Bus namespace host name)")
	}
	c.Queue = get(envQueue)
	if c.Queue == "" {
		c.Queue = "tenant-sync"
	}
	if !regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,259}$`).MatchString(c.Queue) {
		bad(envQueue, "must be a queue name: letters, digits, '.', '-' and '_'")
	}

	sched := get(envSyncSchedule)
	if sched == "" {
		sched = "0 0 2 * * *"
	}
	s, err := ncrontab.Parse(sched)
	if err != nil {
		bad(envSyncSchedule, "%v (six fields: second minute hour day month day-of-week)", err)
	}
	c.SyncSchedule = s

	if mode == ModeHandler {
		port, err := strconv.Atoi(get(envCustomHandlerPort))
		if err != nil || port < 1 || port > 65535 {
			bad(envCustomHandlerPort, "must be the port the Functions host gives the handler")
		}
		c.CustomHandlerPort = port
	}

	c.APIKey = seatsync.NewSecret(get(envAPIKey))
	if !c.APIKey.IsZero() && len(c.APIKey.Reveal()) < 16 {
		bad(envAPIKey, "must be at least 16 characters (or unset, to generate one)")
	}
	c.Listen = get(envListen)
	if c.Listen == "" {
		c.Listen = "127.0.0.1:7071"
	}
	if _, port, err := net.SplitHostPort(c.Listen); err != nil || port == "" {
		bad(envListen, "must be host:port, such as 127.0.0.1:7071")
	}
	c.DataDir = get(envDataDir)
	if c.DataDir == "" {
		c.DataDir = ".seatsync"
	}
	c.SyncConcurrency = 16
	if v := get(envSyncConcurrency); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 256 {
			bad(envSyncConcurrency, "must be a whole number from 1 to 256")
		}
		c.SyncConcurrency = n
	}
	c.LogLevel = strings.ToLower(get(envLogLevel))
	switch c.LogLevel {
	case "":
		c.LogLevel = "info"
	case "debug", "info", "warn", "error":
	default:
		bad(envLogLevel, "must be debug, info, warn or error")
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("configuration: %w", errors.Join(errs...))
	}
	return c, nil
}

// checkEndpoint accepts an absolute https URL, or http on loopback only (the
// local stand-ins); it returns it without a trailing slash.
func checkEndpoint(v string) (string, error) {
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return "", errors.New("must be an absolute http(s) URL")
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		// A credential or query in an endpoint would end up in logs.
		if !strings.HasSuffix(u.Path, ".csv") || u.User != nil {
			return "", errors.New("must not carry credentials, a query or a fragment")
		}
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return "", fmt.Errorf("must use https (http is allowed only on loopback), got %s://%s", u.Scheme, u.Host)
	}
	return strings.TrimRight(u.String(), "/"), nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
