package infra

// These tests read the Bicep as text, because the Bicep CLI is not available everywhere the
// tests run. Each check names a mistake that would break a deployment or weaken its security.
// TestBicepBuild runs the real compiler (and its linter, bicepconfig.json) where it is installed.

import (
	"bytes"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const mainBicep = "main.bicep"

// knownRoles maps Azure built-in role definition ids to their names.
var knownRoles = map[string]string{
	"4633458b-17de-408a-b874-0445c86b69e6": "Key Vault Secrets User",
	"b86a8fe4-44ce-4948-aee5-eccb2c155cd7": "Key Vault Secrets Officer",
	"00482a5a-887f-4fb3-b363-3b7fe8e74483": "Key Vault Administrator",
	"21090545-7ca7-4776-b22c-e363652d74d2": "Key Vault Reader",
	"b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
	"ba92f5b4-2d11-453d-a403-e96b0029c9fe": "Storage Blob Data Contributor",
	"974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
	"0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3": "Storage Table Data Contributor",
	"090c5cfd-751d-490a-894a-3ce6f1109419": "Azure Service Bus Data Owner",
	"4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0": "Azure Service Bus Data Receiver",
	"69a216fc-b8fb-44d8-bc22-1f3c2cd27a39": "Azure Service Bus Data Sender",
	"3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
	"b24988ac-6180-42a0-ab88-20f7382dd24c": "Contributor",
	"8e3af657-a8ff-443c-a75c-2fe8c4bcb635": "Owner",
	"acdd72a7-3385-48ef-bd42-f606fba81ae7": "Reader",
}

// requiredRoles is what the managed identity needs, by the type of the resource it is scoped to:
// nothing less (the app would fail) and nothing more (least privilege).
var requiredRoles = map[string][]string{
	"microsoft.storage/storageaccounts": {"Storage Blob Data Owner", "Storage Table Data Contributor", "Storage Queue Data Contributor"},
	"microsoft.keyvault/vaults":         {"Key Vault Secrets Officer"},
	"microsoft.servicebus/namespaces":   {"Azure Service Bus Data Sender", "Azure Service Bus Data Receiver"},
	"microsoft.insights/components":     {"Monitoring Metrics Publisher"},
}

// appSettingsRead are the settings the app reads in Azure.
var appSettingsRead = strings.Fields(`SEATSYNC_CLIENT_ID SEATSYNC_CLIENT_SECRET SEATSYNC_PUBLIC_URL
	SEATSYNC_LOGIN_URL SEATSYNC_GRAPH_URL SEATSYNC_PARTNER_CENTER_URL SEATSYNC_SKU_CATALOG_URL
	SEATSYNC_KEYVAULT_URL SEATSYNC_TABLES_URL ServiceBusConnection__fullyQualifiedNamespace
	SEATSYNC_QUEUE SEATSYNC_SYNC_SCHEDULE`)

// knownAPIVersions are API versions known to exist, by root resource type (lower case). Add a
// version here only after checking that Azure has it.
var knownAPIVersions = map[string][]string{
	"microsoft.managedidentity/userassignedidentities": {"2023-01-31"},
	"microsoft.storage/storageaccounts":                {"2023-01-01", "2023-05-01"},
	"microsoft.operationalinsights/workspaces":         {"2022-10-01", "2023-09-01"},
	"microsoft.insights/components":                    {"2020-02-02"},
	"microsoft.keyvault/vaults":                        {"2023-07-01"},
	"microsoft.servicebus/namespaces":                  {"2022-10-01-preview", "2024-01-01"},
	"microsoft.web/serverfarms":                        {"2023-12-01", "2024-04-01"},
	"microsoft.web/sites":                              {"2023-12-01", "2024-04-01"}, // functionAppConfig needs 2023-12-01 or later
	"microsoft.authorization/roleassignments":          {"2022-04-01"},
}

// cloudHosts are host names that differ between Azure clouds (the default disallowed hosts of
// the Bicep linter rule no-hardcoded-env-urls).
var cloudHosts = []string{
	"gallery.azure.com", "management.core.windows.net", "management.azure.com", "database.windows.net",
	"core.windows.net", "login.microsoftonline.com", "graph.windows.net", "trafficmanager.net",
	"datalake.azure.net", "azuredatalakestore.net", "azuredatalakeanalytics.net", "vault.azure.net",
	"api.loganalytics.io", "asazure.windows.net", "region.asazure.windows.net", "batch.core.windows.net",
}

func loadAll(t *testing.T) map[string]*bicepFile {
	t.Helper()
	files, err := loadBicepFiles(".")
	if err != nil {
		t.Fatal(err)
	}
	if files[mainBicep] == nil {
		t.Fatalf("%s not found", mainBicep)
	}
	return files
}

func loadMain(t *testing.T) *bicepFile {
	t.Helper()
	return loadAll(t)[mainBicep]
}

// located is a resource and the file that declares it.
type located struct {
	f *bicepFile
	r *resource
}

// resourcesOf returns the resources (not existing ones) of the given type in all files.
func resourcesOf(files map[string]*bicepFile, typ string) []located {
	var out []located
	for _, f := range sortedFiles(files) {
		for _, r := range f.res {
			if strings.EqualFold(r.typ, typ) && !r.existing {
				out = append(out, located{f, r})
			}
		}
	}
	return out
}

func sortedFiles(files map[string]*bicepFile) []*bicepFile {
	var out []*bicepFile
	for _, k := range slices.Sorted(maps.Keys(files)) {
		out = append(out, files[k])
	}
	return out
}

// the returns the one resource of type typ in main.bicep.
func the(t *testing.T, f *bicepFile, typ string) *resource {
	t.Helper()
	var found []*resource
	for _, r := range f.res {
		if strings.EqualFold(r.typ, typ) && !r.existing {
			found = append(found, r)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s: want exactly one %s resource, found %d", f.path, typ, len(found))
	}
	return found[0]
}

// want asserts that the property at path of r's body is expr, or resolves to the literal value.
func want(t *testing.T, f *bicepFile, r *resource, wantValue string, path ...string) {
	t.Helper()
	p, ok := f.lookup(r.open, path...)
	if !ok {
		t.Errorf("%s %s (%s): %s is not set; want %s", f.path, r.sym, r.typ, strings.Join(path, "."), wantValue)
		return
	}
	got := f.resolve(p.value)
	if got == wantValue {
		return
	}
	if s, ok := literal(got); ok && s == wantValue {
		return
	}
	t.Errorf("%s %s (%s): %s = %s; want %s", f.path, r.sym, r.typ, strings.Join(path, "."), p.value, wantValue)
}

func TestBicepBalanced(t *testing.T) {
	n := 0
	err := filepath.WalkDir(".", func(path string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() || filepath.Ext(path) != ".bicep" {
			return err
		}
		n++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if _, err := scanBicep(string(b)); err != nil {
			t.Errorf("%s: %v", path, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no .bicep files found")
	}
}

func TestScanBicepReportsUnbalanced(t *testing.T) {
	for _, tc := range []struct {
		name, src, wantErr string
	}{
		{"unclosed brace", "var a = {\n  b: 1\n", "'{' opened at 1:9 is not closed"},
		{"brace closes bracket", "var a = [\n  1\n}\n", "'}' at 3:1 does not close '[' opened at 1:9"},
		{"stray close", "var a = 'x'}\n", "'}' at 1:12 closes nothing"},
		{"string runs to line end", "var s = 'abc\nvar t = 1\n", "string opened at 1:9 is not closed on its line"},
		{"unclosed interpolation", "var s = 'a${b'\n", "string opened at 1:14 is not closed on its line"},
		{"unclosed comment", "var a = 1 /* note\n", "comment opened at 1:11 is not closed"},
		{"unclosed multi-line string", "var a = '''\n{\n", "multi-line string opened at 1:9 is not closed"},
		{"escaped quote keeps string open", "var s = 'it\\'s'}\n", "'}' at 1:16 closes nothing"},
		{"brackets in strings and comments", "var s = 'a \\' { [ ('\n// }\nvar x = 1 /* ] ) */\n", ""},
		{"nested interpolation", "var s = '${a[0]} and ${'}'} and ${f('x')}'\n", ""},
		{"multi-line string is raw", "var m = '''\n{ it's [ raw ${\n'''\n", ""},
		{"escaped dollar", "var s = '\\${'\n", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := scanBicep(tc.src)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("scanBicep(%q) = %v; want no error", tc.src, err)
			case tc.wantErr != "" && err == nil:
				t.Errorf("scanBicep(%q) found nothing; want %q", tc.src, tc.wantErr)
			case tc.wantErr != "" && err.Error() != tc.wantErr:
				t.Errorf("scanBicep(%q) = %q; want %q", tc.src, err, tc.wantErr)
			}
		})
	}
}

func TestParamsAndVarsUsed(t *testing.T) {
	for _, f := range sortedFiles(loadAll(t)) {
		for _, u := range unusedDecls(f, "param", "var", "func") {
			t.Errorf("%s: %s is declared but never used", f.path, u)
		}
	}
}

func TestUnusedCheckerFindsUnused(t *testing.T) {
	src := "param used string\nparam unused string\nparam keyOnly string\nparam inString string\n" +
		"var x = {\n  keyOnly: used\n}\nvar y = 'inString'\noutput o string = x.keyOnly\noutput p string = y\n"
	f, err := parseBicep("test.bicep", src)
	if err != nil {
		t.Fatal(err)
	}
	got := unusedDecls(f, "param", "var")
	want := []string{"param unused", "param keyOnly", "param inString"}
	if !slices.Equal(got, want) {
		t.Errorf("unusedDecls = %q; want %q", got, want)
	}
}

func TestOutputsCarryNoSecrets(t *testing.T) {
	files := loadAll(t)
	for _, f := range sortedFiles(files) {
		for _, p := range outputSecretProblems(f) {
			t.Errorf("%s: %s", f.path, p)
		}
	}
	main := files[mainBicep]
	n := 0
	for _, d := range main.decls {
		if d.kind == "output" {
			n++
		}
	}
	if n == 0 {
		t.Errorf("%s has no outputs", mainBicep)
	}
}

func TestOutputCheckerFindsSecrets(t *testing.T) {
	src := "@secure()\nparam pw string\nvar wrapped = 'x${pw}'\n" +
		"resource stg 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {\n  name: 'x'\n}\n" +
		"output leaked string = 'x${pw}'\noutput indirect string = wrapped\n" +
		"output keys string = stg.listKeys().keys[0].value\noutput adminPassword string = 'x'\n" +
		"output AZURE_KEY_VAULT_NAME string = 'kv'\n"
	f, err := parseBicep("test.bicep", src)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(outputSecretProblems(f), "\n")
	for _, w := range []string{"output leaked: value uses secure param pw", "output indirect: value uses secure param pw",
		"output keys: value calls a list* function", "output keys: name mentions \"key\"", "output adminPassword: name mentions \"password\""} {
		if !strings.Contains(got, w) {
			t.Errorf("problems lack %q; got:\n%s", w, got)
		}
	}
	if strings.Contains(got, "AZURE_KEY_VAULT_NAME") {
		t.Errorf("AZURE_KEY_VAULT_NAME reported:\n%s", got)
	}
}

// The client secret goes into the Key Vault secret and nowhere else.
func TestSecureParamsOnlyFeedKeyVaultSecrets(t *testing.T) {
	for _, f := range sortedFiles(loadAll(t)) {
		for _, d := range f.decls {
			if !f.isSecureParam(d) {
				continue
			}
			if _, hasDefault := f.rhs(d); hasDefault {
				t.Errorf("%s: secure param %s has a default", f.path, d.name)
			}
			for _, at := range f.uses(d) {
				var in *resource
				for _, r := range f.res {
					if r.open < at && at < r.close && (in == nil || r.open > in.open) {
						in = r
					}
				}
				lineStart := strings.LastIndexByte(f.code[:at], '\n') + 1
				lineEnd := strings.IndexByte(f.code[at:], '\n') + at
				line := strings.TrimSpace(f.code[lineStart:lineEnd])
				if in == nil || !strings.EqualFold(in.typ, "Microsoft.KeyVault/vaults/secrets") || line != "value: "+d.name {
					t.Errorf("%s:%s: secure param %s is used outside a Key Vault secret's value: %s", f.path, lineCol(f.src, at), d.name, line)
				}
			}
		}
	}
}

func TestSecuritySettings(t *testing.T) {
	f := loadMain(t)
	for _, ff := range loadAll(t) {
		if regexp.MustCompile(`enablePurgeProtection\s*:\s*false`).MatchString(ff.code) {
			t.Errorf("%s sets enablePurgeProtection: false (ARM rejects it, and purge protection must stay on)", ff.path)
		}
	}

	st := the(t, f, "Microsoft.Storage/storageAccounts")
	want(t, f, st, "StorageV2", "kind")
	want(t, f, st, "false", "properties", "allowSharedKeyAccess")
	want(t, f, st, "false", "properties", "allowBlobPublicAccess")
	want(t, f, st, "TLS1_2", "properties", "minimumTlsVersion")
	want(t, f, st, "true", "properties", "supportsHttpsTrafficOnly")

	kv := the(t, f, "Microsoft.KeyVault/vaults")
	want(t, f, kv, "standard", "properties", "sku", "name")
	want(t, f, kv, "true", "properties", "enableRbacAuthorization")
	want(t, f, kv, "true", "properties", "enableSoftDelete")
	want(t, f, kv, "true", "properties", "enablePurgeProtection")
	want(t, f, kv, "Enabled", "properties", "publicNetworkAccess")

	sb := the(t, f, "Microsoft.ServiceBus/namespaces")
	want(t, f, sb, "true", "properties", "disableLocalAuth")
	want(t, f, sb, "1.2", "properties", "minimumTlsVersion")

	appi := the(t, f, "Microsoft.Insights/components")
	want(t, f, appi, "true", "properties", "DisableLocalAuth")
	if p, ok := f.lookup(appi.open, "properties", "WorkspaceResourceId"); !ok || !strings.HasSuffix(p.value, ".id") {
		t.Errorf("Application Insights is not workspace-based (properties.WorkspaceResourceId)")
	}

	site := the(t, f, "Microsoft.Web/sites")
	want(t, f, site, "true", "properties", "httpsOnly")
}

func TestFlexConsumptionCustomHandler(t *testing.T) {
	f := loadMain(t)
	uami := the(t, f, "Microsoft.ManagedIdentity/userAssignedIdentities")
	plan := the(t, f, "Microsoft.Web/serverfarms")
	want(t, f, plan, "FC1", "sku", "name")
	want(t, f, plan, "FlexConsumption", "sku", "tier")
	want(t, f, plan, "true", "properties", "reserved")

	site := the(t, f, "Microsoft.Web/sites")
	want(t, f, site, "functionapp,linux", "kind")
	want(t, f, site, plan.sym+".id", "properties", "serverFarmId")
	want(t, f, site, "UserAssigned", "identity", "type")
	if _, ok := f.lookup(site.open, "identity", "userAssignedIdentities", "'${"+uami.sym+".id}'"); !ok {
		t.Errorf("the function app does not carry identity %s", uami.sym)
	}
	want(t, f, site, uami.sym+".id", "properties", "keyVaultReferenceIdentity")
	want(t, f, site, "custom", "properties", "functionAppConfig", "runtime", "name")
	want(t, f, site, "1.0", "properties", "functionAppConfig", "runtime", "version")
	want(t, f, site, "2048", "properties", "functionAppConfig", "scaleAndConcurrency", "instanceMemoryMB")
	want(t, f, site, "40", "properties", "functionAppConfig", "scaleAndConcurrency", "maximumInstanceCount")
	want(t, f, site, "blobContainer", "properties", "functionAppConfig", "deployment", "storage", "type")
	want(t, f, site, "UserAssignedIdentity", "properties", "functionAppConfig", "deployment", "storage", "authentication", "type")
	want(t, f, site, uami.sym+".id", "properties", "functionAppConfig", "deployment", "storage", "authentication", "userAssignedIdentityResourceId")

	// The deployment package goes to a container that the template creates.
	p, ok := f.lookup(site.open, "properties", "functionAppConfig", "deployment", "storage", "value")
	if !ok {
		t.Fatal("functionAppConfig.deployment.storage.value is not set")
	}
	containers := resourcesOf(map[string]*bicepFile{f.path: f}, "Microsoft.Storage/storageAccounts/blobServices/containers")
	if len(containers) != 1 {
		t.Fatalf("want one blob container, found %d", len(containers))
	}
	c := containers[0].r
	cname, _ := f.lookup(c.open, "name")
	m := regexp.MustCompile(`^'\$\{(\w+)\.properties\.primaryEndpoints\.blob\}\$\{(\w+)\}'$`).FindStringSubmatch(p.value)
	if m == nil || m[2] != cname.value {
		t.Errorf("deployment storage value = %s; want '${<storage>.properties.primaryEndpoints.blob}${%s}'", p.value, cname.value)
	}
	want(t, f, c, "None", "properties", "publicAccess")
}

func TestAppSettings(t *testing.T) {
	f := loadMain(t)
	var cfg *resource
	for _, r := range f.res {
		if strings.EqualFold(r.typ, "Microsoft.Web/sites/config") {
			if n, ok := f.lookup(r.open, "name"); ok && n.value == "'appsettings'" {
				cfg = r
			}
		}
	}
	if cfg == nil {
		t.Fatal("no Microsoft.Web/sites/config resource named 'appsettings'")
	}
	props, ok := f.lookup(cfg.open, "properties")
	if !ok {
		t.Fatal("appsettings has no properties")
	}
	settings := map[string]string{}
	for _, p := range f.props(props.at) {
		if _, dup := settings[p.key]; dup {
			t.Errorf("app setting %s is set twice", p.key)
		}
		settings[p.key] = p.value
	}
	for _, name := range appSettingsRead {
		if _, ok := settings[name]; !ok {
			t.Errorf("app setting %s, which the app reads, is not set", name)
		}
	}
	uami := the(t, f, "Microsoft.ManagedIdentity/userAssignedIdentities")
	clientID := uami.sym + ".properties.clientId"
	for name, wantValue := range map[string]string{
		"AzureWebJobsStorage__credential":           "'managedidentity'",
		"AzureWebJobsStorage__clientId":             clientID,
		"ServiceBusConnection__credential":          "'managedidentity'",
		"ServiceBusConnection__clientId":            clientID,
		"AZURE_CLIENT_ID":                           clientID,
		"APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "'ClientId=${" + clientID + "};Authorization=AAD'",
	} {
		if got := settings[name]; got != wantValue {
			t.Errorf("app setting %s = %q; want %q", name, got, wantValue)
		}
	}
	for _, name := range []string{"AzureWebJobsStorage__accountName", "APPLICATIONINSIGHTS_CONNECTION_STRING"} {
		if settings[name] == "" {
			t.Errorf("app setting %s is not set", name)
		}
	}
	// Deprecated or key-based on Flex Consumption.
	for _, name := range []string{"AzureWebJobsStorage", "FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION",
		"WEBSITE_RUN_FROM_PACKAGE", "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING", "WEBSITE_CONTENTSHARE", "ServiceBusConnection"} {
		if _, ok := settings[name]; ok {
			t.Errorf("app setting %s must not be set on Flex Consumption with identity-based connections", name)
		}
	}
	for name, v := range settings {
		if listFunc.MatchString(v) {
			t.Errorf("app setting %s calls a list* function (a key): %s", name, v)
		}
	}

	// The client secret is a Key Vault reference to the secret the template writes.
	m := regexp.MustCompile(`^'@Microsoft\.KeyVault\(SecretUri=\$\{(\w+)::(\w+)\.properties\.secretUri\}\)'$`).FindStringSubmatch(settings["SEATSYNC_CLIENT_SECRET"])
	if m == nil {
		t.Errorf("SEATSYNC_CLIENT_SECRET = %s; want '@Microsoft.KeyVault(SecretUri=${<vault>::<secret>.properties.secretUri})'", settings["SEATSYNC_CLIENT_SECRET"])
	} else {
		secret := the(t, f, "Microsoft.KeyVault/vaults/secrets")
		if secret.sym != m[2] {
			t.Errorf("SEATSYNC_CLIENT_SECRET refers to %s, not the secret resource %s", m[2], secret.sym)
		}
		want(t, f, secret, "seatsync-client-secret", "name")
	}

	// The queue the app sends to is the queue the template creates.
	queue := the(t, f, "Microsoft.ServiceBus/namespaces/queues")
	qname, _ := f.lookup(queue.open, "name")
	gotQ, ok1 := f.resolveString(settings["SEATSYNC_QUEUE"])
	wantQ, ok2 := f.resolveString(qname.value)
	if !ok1 || !ok2 || gotQ != wantQ || gotQ != "tenant-sync" {
		t.Errorf("SEATSYNC_QUEUE = %s (%q), queue name = %s (%q); want both 'tenant-sync'", settings["SEATSYNC_QUEUE"], gotQ, qname.value, wantQ)
	}

	// Endpoints come from the deployed resources, never from built host names.
	for name, suffix := range map[string]string{
		"SEATSYNC_KEYVAULT_URL": ".properties.vaultUri",
		"SEATSYNC_TABLES_URL":   ".properties.primaryEndpoints.table",
	} {
		if v := f.resolve(settings[name]); !strings.HasSuffix(v, suffix) {
			t.Errorf("app setting %s = %s; want <resource>%s", name, v, suffix)
		}
	}
	if v := f.expandVars(settings["ServiceBusConnection__fullyQualifiedNamespace"], 0); !strings.Contains(v, ".properties.serviceBusEndpoint") {
		t.Errorf("ServiceBusConnection__fullyQualifiedNamespace = %s; want it derived from the namespace's serviceBusEndpoint", v)
	}

	// The endpoint settings come from parameters whose defaults are DESIGN.md's.
	for name, wantDefault := range map[string]string{
		"SEATSYNC_CLIENT_ID":          "",
		"SEATSYNC_SYNC_SCHEDULE":      "'0 0 2 * * *'",
		"SEATSYNC_LOGIN_URL":          "environment().authentication.loginEndpoint",
		"SEATSYNC_GRAPH_URL":          "'https://graph.microsoft.com'",
		"SEATSYNC_PARTNER_CENTER_URL": "'https://api.partnercenter.microsoft.com'",
		"SEATSYNC_SKU_CATALOG_URL":    "'https://download.microsoft.com/",
	} {
		v := settings[name]
		if m := regexp.MustCompile(`^trimTrailingSlash\((\w+)\)$`).FindStringSubmatch(v); m != nil {
			v = m[1]
		}
		d, ok := f.decl("param", v)
		if !ok {
			t.Errorf("app setting %s = %s; want a parameter", name, settings[name])
			continue
		}
		def, _ := f.rhs(d)
		if !strings.HasPrefix(def, wantDefault) || (wantDefault == "" && def != "") {
			t.Errorf("param %s (for %s) defaults to %q; want %q", d.name, name, def, wantDefault)
		}
	}
}

func TestServiceBusQueue(t *testing.T) {
	f := loadMain(t)
	ns := the(t, f, "Microsoft.ServiceBus/namespaces")
	sku, _ := f.lookup(ns.open, "sku", "name")
	if s, _ := f.resolveString(sku.value); s != "Standard" && s != "Premium" {
		t.Errorf("Service Bus sku %s: duplicate detection needs Standard or Premium", sku.value)
	}
	q := the(t, f, "Microsoft.ServiceBus/namespaces/queues")
	want(t, f, q, "tenant-sync", "name")
	want(t, f, q, "true", "properties", "requiresDuplicateDetection")
	want(t, f, q, "PT1H", "properties", "duplicateDetectionHistoryTimeWindow")
	want(t, f, q, "10", "properties", "maxDeliveryCount")
	want(t, f, q, "PT5M", "properties", "lockDuration")
	want(t, f, q, "true", "properties", "deadLetteringOnMessageExpiration")
}

func TestRoleAssignments(t *testing.T) {
	files := loadAll(t)
	guidLit := regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	norm := func(s string) string {
		s = strings.ToLower(strings.ReplaceAll(s, " ", ""))
		return strings.TrimPrefix(s, "azure")
	}

	// Every GUID in the Bicep is a known role id, and a var key naming it names that role.
	for _, f := range sortedFiles(files) {
		for _, m := range regexp.MustCompile(`'[^'\n]*'`).FindAllStringIndex(f.code, -1) {
			if s, ok := literal(f.code[m[0]:m[1]]); ok && guidLit.MatchString(s) {
				if _, known := knownRoles[strings.ToLower(s)]; !known {
					t.Errorf("%s:%s: %s is not a known role definition id", f.path, lineCol(f.src, m[0]), s)
				}
			}
		}
		for _, d := range f.decls {
			if v, _ := f.rhs(d); d.kind != "var" || !strings.HasPrefix(v, "{") {
				continue
			}
			for _, p := range f.props(f.findRHS(d)) {
				if s, ok := literal(p.value); ok && guidLit.MatchString(s) {
					if name := knownRoles[strings.ToLower(s)]; norm(p.key) != norm(name) {
						t.Errorf("%s: var %s.%s = %s, which is %q", f.path, d.name, p.key, s, name)
					}
				}
			}
		}
	}

	assigned := map[string][]string{}
	for _, fr := range resourcesOf(files, "Microsoft.Authorization/roleAssignments") {
		f, r := fr.f, fr.r
		where := f.path + " " + r.sym
		if r.api != "2022-04-01" {
			t.Errorf("%s: API version %s; want 2022-04-01", where, r.api)
		}
		scope, _ := f.lookup(r.open, "scope")
		var scopeType string
		for _, s := range f.res {
			if s.sym == scope.value {
				scopeType = strings.ToLower(s.typ)
			}
		}
		if scopeType == "" {
			t.Errorf("%s: scope %q is not a resource of %s", where, scope.value, f.path)
			continue
		}
		rd, _ := f.lookup(r.open, "properties", "roleDefinitionId")
		m := regexp.MustCompile(`^subscriptionResourceId\('Microsoft\.Authorization/roleDefinitions',\s*(.+)\)$`).FindStringSubmatch(rd.value)
		if m == nil {
			t.Errorf("%s: roleDefinitionId = %s; want subscriptionResourceId('Microsoft.Authorization/roleDefinitions', <id>)", where, rd.value)
			continue
		}
		roleExpr := m[1]
		id, ok := f.resolveRoleID(roleExpr)
		role := knownRoles[strings.ToLower(id)]
		if !ok || role == "" {
			t.Errorf("%s: role %s resolves to %q, not a known role id", where, roleExpr, id)
			continue
		}
		principal, _ := f.lookup(r.open, "properties", "principalId")
		want(t, f, r, "ServicePrincipal", "properties", "principalType")
		name, _ := f.lookup(r.open, "name")
		wantName := "guid(" + scope.value + ".id, " + principal.value + ", " + roleExpr + ")"
		if name.value != wantName {
			t.Errorf("%s: name = %s; want %s", where, name.value, wantName)
		}
		assigned[scopeType] = append(assigned[scopeType], role)
	}
	for scopeType, roles := range requiredRoles {
		for _, role := range roles {
			if !slices.Contains(assigned[scopeType], role) {
				t.Errorf("role %q on %s is not assigned", role, scopeType)
			}
		}
	}
	for scopeType, roles := range assigned {
		for _, role := range roles {
			if !slices.Contains(requiredRoles[scopeType], role) {
				t.Errorf("role %q on %s is assigned but not needed", role, scopeType)
			}
		}
	}

	// The principal of the modules that assign roles is the function app's identity.
	main := files[mainBicep]
	uami := the(t, main, "Microsoft.ManagedIdentity/userAssignedIdentities")
	for _, d := range main.decls {
		if d.kind != "module" {
			continue
		}
		path, open := main.moduleTarget(d)
		target := files[filepath.ToSlash(filepath.Clean(path))]
		if target == nil || len(resourcesOf(map[string]*bicepFile{path: target}, "Microsoft.Authorization/roleAssignments")) == 0 {
			continue
		}
		p, ok := main.lookup(open, "params", "principalId")
		if !ok || p.value != uami.sym+".properties.principalId" {
			t.Errorf("module %s: principalId = %q; want %s.properties.principalId", d.name, p.value, uami.sym)
		}
	}
}

// findRHS returns the offset of the '{' that starts a var's object value.
func (f *bicepFile) findRHS(d decl) int {
	return strings.IndexByte(f.bare[d.start:d.end], '{') + d.start
}

// resolveRoleID resolves a role id expression: a literal, a var, or <var>.<key> of an object var.
func (f *bicepFile) resolveRoleID(expr string) (string, bool) {
	if s, ok := f.resolveString(expr); ok {
		return s, true
	}
	obj, key, ok := strings.Cut(expr, ".")
	if !ok {
		return "", false
	}
	d, ok := f.decl("var", obj)
	if !ok {
		return "", false
	}
	p, ok := f.lookup(f.findRHS(d), key)
	if !ok {
		return "", false
	}
	return literal(p.value)
}

// moduleTarget returns the path of a module declaration (relative to the test's directory) and
// the offset of its body's '{'.
func (f *bicepFile) moduleTarget(d decl) (string, int) {
	m := regexp.MustCompile(`^module\s+\w+\s+'([^']*)'`).FindStringSubmatch(f.text(d))
	if m == nil {
		return "", -1
	}
	return filepath.Join(filepath.Dir(f.path), m[1]), strings.IndexByte(f.bare[d.start:d.end], '{') + d.start
}

func TestModules(t *testing.T) {
	files := loadAll(t)
	for _, f := range sortedFiles(files) {
		for _, d := range f.decls {
			if d.kind != "module" {
				continue
			}
			m := regexp.MustCompile(`^module\s+\w+\s+'([^']*)'`).FindStringSubmatch(f.text(d))
			if m == nil {
				t.Errorf("%s: module %s has no path", f.path, d.name)
				continue
			}
			if strings.HasPrefix(m[1], "br:") || strings.HasPrefix(m[1], "br/") || strings.HasPrefix(m[1], "ts:") || strings.HasPrefix(m[1], "ts/") {
				t.Errorf("%s: module %s comes from a registry (%s); keep modules local", f.path, d.name, m[1])
				continue
			}
			path, open := f.moduleTarget(d)
			if _, err := os.Stat(path); err != nil {
				t.Errorf("%s: module %s: %v", f.path, d.name, err)
				continue
			}
			target := files[filepath.ToSlash(filepath.Clean(path))]
			if target == nil {
				t.Errorf("%s: module %s: %s was not loaded", f.path, d.name, path)
				continue
			}
			// The call passes every required param of the module and no unknown one.
			passed := map[string]bool{}
			if p, ok := f.lookup(open, "params"); ok {
				for _, pp := range f.props(p.at) {
					passed[pp.key] = true
					if _, ok := target.decl("param", pp.key); !ok {
						t.Errorf("%s: module %s passes %s, which %s does not declare", f.path, d.name, pp.key, path)
					}
				}
			}
			for _, pd := range target.decls {
				if _, hasDefault := target.rhs(pd); pd.kind == "param" && !hasDefault && !passed[pd.name] {
					t.Errorf("%s: module %s does not pass required param %s", f.path, d.name, pd.name)
				}
			}
		}
	}
}

func TestAPIVersionsKnown(t *testing.T) {
	for _, f := range sortedFiles(loadAll(t)) {
		for _, r := range f.res {
			parts := strings.Split(strings.ToLower(r.typ), "/")
			root := strings.Join(parts[:min(2, len(parts))], "/")
			if !slices.Contains(knownAPIVersions[root], r.api) {
				t.Errorf("%s %s: %s@%s is not a known API version of %s (see knownAPIVersions)", f.path, r.sym, r.typ, r.api, root)
			}
		}
	}
}

func TestNoHardcodedCloudHosts(t *testing.T) {
	for _, f := range sortedFiles(loadAll(t)) {
		for i := 0; i < len(f.src); {
			if f.class[i] != inString {
				i++
				continue
			}
			j := i
			for j < len(f.src) && f.class[j] == inString {
				j++
			}
			s := strings.ToLower(f.src[i:j])
			for _, h := range cloudHosts {
				if strings.Contains(s, h) {
					t.Errorf("%s:%s: %s is cloud-specific; take it from environment() or from a resource's properties", f.path, lineCol(f.src, i), h)
				}
			}
			i = j
		}
	}
}

func TestTagsAndNames(t *testing.T) {
	f := loadMain(t)
	tags, ok := f.decl("var", "tags")
	if !ok {
		t.Fatal("no var tags")
	}
	if p, ok := f.lookup(f.findRHS(tags), "azd-env-name"); !ok || p.value != "environmentName" {
		t.Errorf("var tags lacks 'azd-env-name': environmentName")
	}
	for _, r := range f.res {
		if r.existing || r.nested || strings.Count(r.typ, "/") > 1 || strings.EqualFold(r.typ, "Microsoft.Authorization/roleAssignments") {
			continue
		}
		p, ok := f.lookup(r.open, "tags")
		if !ok || (p.value != "tags" && !strings.HasPrefix(p.value, "union(tags,")) {
			t.Errorf("%s (%s) is not tagged with tags", r.sym, r.typ)
		}
	}
	site := the(t, f, "Microsoft.Web/sites")
	if p, _ := f.lookup(site.open, "tags"); !regexp.MustCompile(`'azd-service-name':\s*'seatsync'`).MatchString(p.value) {
		t.Errorf("function app tags = %s; want 'azd-service-name': 'seatsync'", p.value)
	}

	// Names: <abbreviation><resourceToken>, within each type's limits. uniqueString gives 13
	// characters of [a-z0-9]; the sample token starts with a digit, the worst case.
	token, ok := f.decl("var", "resourceToken")
	if v, _ := f.rhs(token); !ok || v != "toLower(uniqueString(subscription().id, resourceGroup().id, environmentName))" {
		t.Errorf("var resourceToken = %q", v)
	}
	for typ, rule := range map[string]*regexp.Regexp{
		"Microsoft.KeyVault/vaults":                        regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]{1,22}[a-zA-Z0-9]$`),
		"Microsoft.Storage/storageAccounts":                regexp.MustCompile(`^[a-z0-9]{3,24}$`),
		"Microsoft.ServiceBus/namespaces":                  regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9-]{4,48}[a-zA-Z0-9]$`),
		"Microsoft.Web/sites":                              regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9-]{0,58}[a-zA-Z0-9]$`),
		"Microsoft.Web/serverfarms":                        regexp.MustCompile(`^[a-zA-Z0-9-]{1,60}$`),
		"Microsoft.ManagedIdentity/userAssignedIdentities": regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]{2,127}$`),
		"Microsoft.Insights/components":                    regexp.MustCompile(`^[^%&\\?/]{1,260}$`),
		"Microsoft.OperationalInsights/workspaces":         regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9-]{2,61}[a-zA-Z0-9]$`),
	} {
		r := the(t, f, typ)
		n, _ := f.lookup(r.open, "name")
		tmpl := f.resolve(n.value)
		if !strings.Contains(tmpl, "${resourceToken}") {
			t.Errorf("%s name %s is not unique per environment (no ${resourceToken})", typ, tmpl)
			continue
		}
		name, ok := literal(strings.ReplaceAll(tmpl, "${resourceToken}", "0123456789abc"))
		if !ok || !rule.MatchString(name) {
			t.Errorf("%s name %s gives %q, which breaks %s", typ, tmpl, name, rule)
		}
	}
}

func TestParameterFiles(t *testing.T) {
	f := loadMain(t)
	b, err := os.ReadFile("main.parameters.json")
	if err != nil {
		t.Fatal(err)
	}
	var params struct {
		Schema     string `json:"$schema"`
		Parameters map[string]struct {
			Value json.RawMessage `json:"value"`
		} `json:"parameters"`
	}
	if err := json.Unmarshal(b, &params); err != nil {
		t.Fatalf("main.parameters.json: %v", err)
	}
	if len(params.Parameters) == 0 {
		t.Error("main.parameters.json sets no parameters")
	}
	azdVar := regexp.MustCompile(`^"\$\{[A-Z_][A-Z0-9_]*\}"$`)
	for name, p := range params.Parameters {
		d, ok := f.decl("param", name)
		if !ok {
			t.Errorf("main.parameters.json sets %s, which is not a param of %s", name, mainBicep)
			continue
		}
		if f.isSecureParam(d) && !azdVar.Match(p.Value) {
			t.Errorf("main.parameters.json: secure param %s must come from an environment variable, not %s", name, p.Value)
		}
	}
	for _, d := range f.decls {
		if _, hasDefault := f.rhs(d); d.kind == "param" && !hasDefault {
			if _, ok := params.Parameters[d.name]; !ok {
				t.Errorf("required param %s is missing from main.parameters.json", d.name)
			}
		}
	}

	b, err = os.ReadFile("bicepconfig.json")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Analyzers struct {
			Core struct {
				Enabled *bool `json:"enabled"`
				Rules   map[string]struct {
					Level string `json:"level"`
				} `json:"rules"`
			} `json:"core"`
		} `json:"analyzers"`
	}
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("bicepconfig.json: %v", err)
	}
	if e := cfg.Analyzers.Core.Enabled; e != nil && !*e {
		t.Error("bicepconfig.json disables the linter")
	}
	for _, rule := range []string{"no-hardcoded-env-urls", "no-unused-params", "no-unused-vars",
		"outputs-should-not-contain-secrets", "secure-parameter-default", "use-secure-value-for-secure-inputs"} {
		if got := cfg.Analyzers.Core.Rules[rule].Level; got != "error" {
			t.Errorf("bicepconfig.json: %s level = %q; want \"error\"", rule, got)
		}
	}
}

func TestBicepBuild(t *testing.T) {
	bicep, err := exec.LookPath("bicep")
	if err != nil {
		t.Skipf("bicep CLI not installed: %v; the text checks in this package stand in for bicep build and its linter", err)
	}
	cmd := exec.CommandContext(t.Context(), bicep, "build", mainBicep, "--stdout")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("bicep build %s: %v\n%s", mainBicep, err, stderr.String())
	}
	if !json.Valid(stdout.Bytes()) {
		t.Errorf("bicep build %s printed no valid ARM JSON", mainBicep)
	}
	if s := strings.TrimSpace(stderr.String()); s != "" {
		t.Logf("bicep build %s diagnostics:\n%s", mainBicep, s)
	}
}
