package funchost

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strings"
)

// Binding is one binding of a function.json, with the fields seatsync uses.
type Binding struct {
	Type       string   `json:"type"`
	Direction  string   `json:"direction"`
	Name       string   `json:"name"`
	AuthLevel  string   `json:"authLevel"`
	Methods    []string `json:"methods"`
	Route      string   `json:"route"`
	Schedule   string   `json:"schedule"`
	QueueName  string   `json:"queueName"`
	Connection string   `json:"connection"`
}

// Function is one function folder: its name and its function.json.
type Function struct {
	Name     string
	Bindings []Binding `json:"bindings"`
}

// Trigger returns the function's trigger binding.
func (f Function) Trigger() Binding {
	for _, b := range f.Bindings {
		if strings.HasSuffix(b.Type, "Trigger") {
			return b
		}
	}
	return Binding{}
}

var functionName = regexp.MustCompile(`^[a-z][a-z0-9]*$`)

// LoadFunctions reads */function.json from fsys, the way the host discovers
// functions: folder name = function name.
func LoadFunctions(fsys fs.FS) ([]Function, error) {
	paths, err := fs.Glob(fsys, "*/function.json")
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, errors.New("funchost: no */function.json found")
	}
	var out []Function
	for _, p := range paths {
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return nil, err
		}
		f := Function{Name: path.Dir(p)}
		if !functionName.MatchString(f.Name) {
			return nil, fmt.Errorf("funchost: %s: folder name must be lowercase letters and digits (it is the Go package name)", p)
		}
		if err := json.Unmarshal(b, &f); err != nil {
			return nil, fmt.Errorf("funchost: %s: %w", p, err)
		}
		triggers := 0
		for _, b := range f.Bindings {
			if strings.HasSuffix(b.Type, "Trigger") {
				triggers++
			}
		}
		if triggers != 1 {
			return nil, fmt.Errorf("funchost: %s: want exactly one trigger binding, found %d", p, triggers)
		}
		out = append(out, f)
	}
	return out, nil
}

// Pattern returns the net/http ServeMux pattern of an HTTP trigger's route
// under prefix ("api"): "v1/{*path}" → "/api/v1/", "consent" → "/api/consent".
// Methods are left to the handler, so it can answer 405 in its own format.
func (b Binding) Pattern(prefix string) (string, error) {
	if b.Type != "httpTrigger" {
		return "", fmt.Errorf("funchost: %s is not an HTTP trigger", b.Name)
	}
	route := strings.Trim(b.Route, "/")
	segs := strings.Split(route, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, "{*") {
			if i != len(segs)-1 {
				return "", fmt.Errorf("funchost: route %q: a catch-all must be last", b.Route)
			}
			return "/" + path.Join(prefix, strings.Join(segs[:i], "/")) + "/", nil
		}
		if strings.ContainsAny(s, "{}") {
			// Route parameters other than a final catch-all are not used by
			// seatsync; refuse rather than route wrongly.
			return "", fmt.Errorf("funchost: route %q: only a final {*catchall} parameter is supported", b.Route)
		}
	}
	return "/" + path.Join(prefix, route), nil
}

// RequiresKey reports whether the HTTP trigger demands a function key.
func (b Binding) RequiresKey() bool {
	return b.AuthLevel != "anonymous"
}

// AllowsMethod reports whether the trigger accepts method (empty = all).
func (b Binding) AllowsMethod(method string) bool {
	return len(b.Methods) == 0 || slices.ContainsFunc(b.Methods, func(m string) bool { return strings.EqualFold(m, method) })
}
