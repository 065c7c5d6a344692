package infra

// A small reader of Bicep text, enough for the checks in infra_test.go: it classifies every byte
// as code, string or comment, checks that brackets and quotes balance, and finds declarations,
// resources and object properties. It is no Bicep parser; it understands the subset this
// directory uses and fails loudly on what it cannot read.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

type charClass byte

const (
	inCode charClass = iota
	inString
	inComment
)

// scanBicep classifies each byte of src and reports the first unbalanced bracket, unterminated
// string or unterminated comment. It knows '...' strings with backslash escapes and ${...}
// interpolation (code again, nesting freely), multi-line strings between triple quotes (no
// escapes, no interpolation), // line comments and /* */ block comments.
func scanBicep(src string) ([]charClass, error) {
	type frame struct {
		open     byte // '{', '[', '(' or '$' for the ${ of an interpolation
		at       int
		stringAt int // for '$': where the interrupted string started
	}
	closer := map[byte]byte{'{': '}', '[': ']', '(': ')', '$': '}'}
	name := func(open byte) string {
		if open == '$' {
			return "'${'"
		}
		return fmt.Sprintf("%q", open)
	}
	class := make([]charClass, len(src))
	var stack []frame
	inStr, strAt := false, 0
	for i := 0; i < len(src); {
		c := src[i]
		if inStr {
			class[i] = inString
			switch {
			case c == '\\':
				if i+1 >= len(src) {
					return class, fmt.Errorf("escape at %s ends the file", lineCol(src, i))
				}
				class[i+1] = inString
				i += 2
			case c == '\'':
				inStr = false
				i++
			case c == '$' && i+1 < len(src) && src[i+1] == '{':
				class[i+1] = inString
				stack = append(stack, frame{open: '$', at: i, stringAt: strAt})
				inStr = false
				i += 2
			case c == '\n':
				return class, fmt.Errorf("string opened at %s is not closed on its line", lineCol(src, strAt))
			default:
				i++
			}
			continue
		}
		switch {
		case strings.HasPrefix(src[i:], "'''"):
			end := strings.Index(src[i+3:], "'''")
			if end < 0 {
				return class, fmt.Errorf("multi-line string opened at %s is not closed", lineCol(src, i))
			}
			stop := i + 3 + end + 3
			for j := i; j < stop; j++ {
				class[j] = inString
			}
			i = stop
		case strings.HasPrefix(src[i:], "//"):
			for i < len(src) && src[i] != '\n' {
				class[i] = inComment
				i++
			}
		case strings.HasPrefix(src[i:], "/*"):
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return class, fmt.Errorf("comment opened at %s is not closed", lineCol(src, i))
			}
			stop := i + 2 + end + 2
			for j := i; j < stop; j++ {
				class[j] = inComment
			}
			i = stop
		case c == '\'':
			class[i] = inString
			inStr, strAt = true, i
			i++
		case c == '{' || c == '[' || c == '(':
			stack = append(stack, frame{open: c, at: i})
			i++
		case c == '}' || c == ']' || c == ')':
			if len(stack) == 0 {
				return class, fmt.Errorf("%q at %s closes nothing", c, lineCol(src, i))
			}
			top := stack[len(stack)-1]
			if closer[top.open] != c {
				return class, fmt.Errorf("%q at %s does not close %s opened at %s", c, lineCol(src, i), name(top.open), lineCol(src, top.at))
			}
			stack = stack[:len(stack)-1]
			if top.open == '$' {
				class[i] = inString
				inStr, strAt = true, top.stringAt
			}
			i++
		default:
			i++
		}
	}
	if inStr {
		return class, fmt.Errorf("string opened at %s is not closed", lineCol(src, strAt))
	}
	if len(stack) > 0 {
		top := stack[len(stack)-1]
		return class, fmt.Errorf("%s opened at %s is not closed", name(top.open), lineCol(src, top.at))
	}
	return class, nil
}

func lineCol(src string, off int) string {
	line := strings.Count(src[:off], "\n") + 1
	col := off - strings.LastIndexByte(src[:off], '\n')
	return fmt.Sprintf("%d:%d", line, col)
}

// bicepFile is one scanned .bicep file.
type bicepFile struct {
	path  string
	src   string
	class []charClass
	code  string // src with comments blanked (line breaks kept)
	bare  string // code with string literals blanked too; interpolated code stays
	decls []decl
	res   []*resource
}

// decl is one top-level declaration: param, var, func, resource, module, output, ...
type decl struct {
	kind, name string
	declStart  int // first decorator, or start when there is none
	start, end int // the declaration itself: code[start:end]
}

// resource is one resource declaration, at top level or nested in its parent's body.
type resource struct {
	sym      string
	typ      string // full type, e.g. Microsoft.ServiceBus/namespaces/queues
	api      string // API version, inherited by nested resources
	existing bool
	nested   bool
	at       int // the resource keyword
	open     int // the body's '{'
	close    int // the body's '}'
}

// prop is one property of an object literal.
type prop struct {
	key   string // unquoted when it is a plain string literal
	value string // the value's code, trimmed
	at    int    // offset of the value's first byte
}

var declKeywords = []string{"param", "var", "func", "resource", "module", "output", "type", "import", "targetScope", "metadata"}

func parseBicep(path, src string) (*bicepFile, error) {
	class, err := scanBicep(src)
	if err != nil {
		return nil, err
	}
	code, bare := []byte(src), []byte(src)
	for i, c := range class {
		if src[i] == '\n' {
			continue
		}
		if c == inComment {
			code[i], bare[i] = ' ', ' '
		}
		if c == inString {
			bare[i] = ' '
		}
	}
	f := &bicepFile{path: path, src: src, class: class, code: string(code), bare: string(bare)}
	f.decls = f.findDecls()
	if err := f.findResources(); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *bicepFile) findDecls() []decl {
	var out []decl
	depth, decorStart := 0, -1
	var cur *decl
	for lineStart := 0; lineStart < len(f.src); {
		lineEnd := strings.IndexByte(f.src[lineStart:], '\n')
		if lineEnd < 0 {
			lineEnd = len(f.src)
		} else {
			lineEnd += lineStart
		}
		if depth == 0 && cur == nil {
			line := f.code[lineStart:lineEnd]
			trimmed := strings.TrimLeft(line, " \t")
			indent := len(line) - len(trimmed)
			word, _, _ := strings.Cut(trimmed, " ")
			switch {
			case strings.HasPrefix(trimmed, "@"):
				if decorStart < 0 {
					decorStart = lineStart + indent
				}
			case slices.Contains(declKeywords, word):
				d := decl{kind: word, start: lineStart + indent, declStart: lineStart + indent}
				if decorStart >= 0 {
					d.declStart = decorStart
				}
				if fields := strings.Fields(trimmed); len(fields) > 1 && word != "targetScope" && word != "import" {
					d.name, _, _ = strings.Cut(fields[1], "(") // func name(...)
				}
				cur, decorStart = &d, -1
			}
		}
		for i := lineStart; i < lineEnd; i++ {
			switch f.bare[i] {
			case '{', '[', '(':
				depth++
			case '}', ']', ')':
				depth--
			}
		}
		if cur != nil && depth == 0 {
			cur.end = lineEnd
			out = append(out, *cur)
			cur = nil
		}
		lineStart = lineEnd + 1
	}
	return out
}

var resourceHeader = regexp.MustCompile(`(?m)^[ \t]*resource[ \t]+(\w+)[ \t]+'([^']*)'[ \t]*(existing[ \t]*)?=`)

func (f *bicepFile) findResources() error {
	for _, m := range resourceHeader.FindAllStringSubmatchIndex(f.code, -1) {
		kw := strings.Index(f.code[m[0]:m[1]], "resource") + m[0]
		if f.class[kw] != inCode {
			continue
		}
		r := &resource{sym: f.code[m[2]:m[3]], existing: m[6] >= 0, at: kw, open: -1}
		for i := m[1]; i < len(f.bare); i++ {
			if f.bare[i] == '{' {
				r.open = i
				break
			}
		}
		if r.open < 0 {
			return fmt.Errorf("resource %s at %s has no body", r.sym, lineCol(f.src, kw))
		}
		r.close = f.matchClose(r.open)
		typ := f.code[m[4]:m[5]]
		if t, api, ok := strings.Cut(typ, "@"); ok {
			r.typ, r.api = t, api
		}
		var parent *resource
		for _, p := range f.res {
			if p.open < kw && kw < p.close && (parent == nil || p.open > parent.open) {
				parent = p
			}
		}
		switch {
		case parent != nil && r.api == "":
			r.typ, r.api, r.nested = parent.typ+"/"+typ, parent.api, true
		case r.api == "":
			return fmt.Errorf("resource %s at %s: type %q has no API version", r.sym, lineCol(f.src, kw), typ)
		case parent != nil:
			r.nested = true
		}
		f.res = append(f.res, r)
	}
	return nil
}

// matchClose returns the offset of the bracket closing the one at open (brackets in code only).
func (f *bicepFile) matchClose(open int) int {
	depth := 0
	for i := open; i < len(f.bare); i++ {
		switch f.bare[i] {
		case '{', '[', '(':
			depth++
		case '}', ']', ')':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return len(f.bare)
}

// props lists the properties of the object literal whose '{' is at open.
func (f *bicepFile) props(open int) []prop {
	var out []prop
	end := f.matchClose(open)
	i := open + 1
	for i < end {
		// Skip to the next item.
		for i < end && strings.ContainsRune(" \t\r\n,", rune(f.code[i])) {
			i++
		}
		if i >= end {
			break
		}
		key, ok := "", false
		switch c := f.code[i]; {
		case c == '\'':
			j := i + 1
			for j < end && (f.class[j] != inString || f.src[j] != '\'') {
				if f.class[j] == inString && f.src[j] == '\\' {
					j++
				}
				j++
			}
			key = f.src[i : j+1]
			if s, lit := literal(key); lit {
				key = s
			}
			i, ok = j+1, true
		case isIdentStart(c):
			j := i
			for j < end && isIdentPart(f.code[j]) {
				j++
			}
			key, i, ok = f.code[i:j], j, true
		}
		for i < end && (f.code[i] == ' ' || f.code[i] == '\t') {
			i++
		}
		if ok && i < end && f.code[i] == ':' && (i+1 >= end || f.code[i+1] != ':') {
			i++
			for i < end && (f.code[i] == ' ' || f.code[i] == '\t') {
				i++
			}
			start := i
			i = f.itemEnd(i, end)
			out = append(out, prop{key: key, value: strings.TrimSpace(f.code[start:i]), at: start})
			continue
		}
		// Not a property (a nested resource, a decorator): skip the item.
		i = f.itemEnd(i, end)
	}
	return out
}

// itemEnd returns where the object item starting at i ends: a line break or comma outside
// brackets, or end.
func (f *bicepFile) itemEnd(i, end int) int {
	depth := 0
	for ; i < end; i++ {
		switch f.bare[i] {
		case '{', '[', '(':
			depth++
		case '}', ']', ')':
			depth--
		case '\n', ',':
			if depth == 0 {
				return i
			}
		}
	}
	return end
}

// lookup follows path through nested object literals starting at the '{' at open.
func (f *bicepFile) lookup(open int, path ...string) (prop, bool) {
	for n, key := range path {
		var found *prop
		for _, p := range f.props(open) {
			if p.key == key {
				found = &p
				break
			}
		}
		if found == nil {
			return prop{}, false
		}
		if n == len(path)-1 {
			return *found, true
		}
		if !strings.HasPrefix(found.value, "{") {
			return prop{}, false
		}
		open = found.at
	}
	return prop{}, false
}

func isIdentStart(c byte) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func isIdentPart(c byte) bool { return isIdentStart(c) || '0' <= c && c <= '9' }

// literal returns the value of a plain '...' string literal (no interpolation).
func literal(expr string) (string, bool) {
	expr = strings.TrimSpace(expr)
	if len(expr) < 2 || expr[0] != '\'' || expr[len(expr)-1] != '\'' || strings.HasPrefix(expr, "'''") {
		return "", false
	}
	var b strings.Builder
	body := expr[1 : len(expr)-1]
	for i := 0; i < len(body); i++ {
		switch c := body[i]; {
		case c == '\\' && i+1 < len(body):
			i++
			switch body[i] {
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			default:
				b.WriteByte(body[i])
			}
		case c == '\'':
			return "", false // two literals, not one
		case c == '$' && i+1 < len(body) && body[i+1] == '{':
			return "", false
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), true
}

func (f *bicepFile) decl(kind, name string) (decl, bool) {
	for _, d := range f.decls {
		if d.kind == kind && d.name == name {
			return d, true
		}
	}
	return decl{}, false
}

// text returns the declaration without decorators.
func (f *bicepFile) text(d decl) string { return f.code[d.start:d.end] }

// rhs returns what follows the first '=' of a declaration, trimmed.
func (f *bicepFile) rhs(d decl) (string, bool) {
	for i := d.start; i < d.end; i++ {
		if f.bare[i] == '=' && f.bare[i+1] != '=' && f.bare[i+1] != '>' && f.bare[i-1] != '!' && f.bare[i-1] != '=' && f.bare[i-1] != '<' && f.bare[i-1] != '>' {
			return strings.TrimSpace(f.code[i+1 : d.end]), true
		}
	}
	return "", false
}

func (f *bicepFile) isSecureParam(d decl) bool {
	return d.kind == "param" && strings.Contains(f.code[d.declStart:d.start], "@secure()")
}

// resolve follows an identifier through vars and param defaults to the expression it stands for.
func (f *bicepFile) resolve(expr string) string {
	expr = strings.TrimSpace(expr)
	for range 10 {
		if !isIdent(expr) {
			return expr
		}
		d, ok := f.decl("var", expr)
		if !ok {
			d, ok = f.decl("param", expr)
		}
		if !ok {
			return expr
		}
		v, ok := f.rhs(d)
		if !ok {
			return expr
		}
		expr = v
	}
	return expr
}

// resolveString resolves expr to a string literal's value.
func (f *bicepFile) resolveString(expr string) (string, bool) {
	return literal(f.resolve(expr))
}

func isIdent(s string) bool {
	if s == "" || !isIdentStart(s[0]) {
		return false
	}
	for i := range len(s) {
		if !isIdentPart(s[i]) {
			return false
		}
	}
	return true
}

// uses returns the offsets where name is used as an identifier outside its own declaration:
// not as an object key and not as a property after '.'.
func (f *bicepFile) uses(d decl) []int {
	re := regexp.MustCompile(`\b` + regexp.QuoteMeta(d.name) + `\b`)
	var out []int
	for _, m := range re.FindAllStringIndex(f.bare, -1) {
		if d.declStart <= m[0] && m[0] < d.end {
			continue
		}
		if prev := prevNonSpace(f.bare, m[0]); prev == '.' {
			continue
		}
		if f.isObjectKey(m[0], m[1]) {
			continue
		}
		out = append(out, m[0])
	}
	return out
}

func prevNonSpace(s string, i int) byte {
	for i--; i >= 0; i-- {
		if s[i] != ' ' && s[i] != '\t' {
			return s[i]
		}
	}
	return '\n'
}

func (f *bicepFile) isObjectKey(start, end int) bool {
	j := end
	for j < len(f.bare) && (f.bare[j] == ' ' || f.bare[j] == '\t') {
		j++
	}
	if j >= len(f.bare) || f.bare[j] != ':' || (j+1 < len(f.bare) && f.bare[j+1] == ':') {
		return false
	}
	prev := prevNonSpace(f.bare, start)
	return prev == '\n' || prev == '{' || prev == ','
}

// unusedDecls lists the declarations of the given kinds that nothing else in the file uses.
func unusedDecls(f *bicepFile, kinds ...string) []string {
	var out []string
	for _, d := range f.decls {
		if slices.Contains(kinds, d.kind) && d.name != "" && len(f.uses(d)) == 0 {
			out = append(out, d.kind+" "+d.name)
		}
	}
	return out
}

var listFunc = regexp.MustCompile(`\blist[A-Za-z]*\s*\(`)

var secretWords = regexp.MustCompile(`(?i)secret|password|connectionstring|instrumentationkey|accountkey|primarykey|secondarykey|sharedaccess|accesskey|token`)

// outputSecretProblems reports outputs whose name or value may carry a secret.
func outputSecretProblems(f *bicepFile) []string {
	var secure []decl
	for _, d := range f.decls {
		if f.isSecureParam(d) {
			secure = append(secure, d)
		}
	}
	var out []string
	for _, d := range f.decls {
		if d.kind != "output" {
			continue
		}
		name := strings.ToLower(d.name)
		name = strings.NewReplacer("keyvault", "", "key_vault", "").Replace(name)
		for _, w := range []string{"secret", "password", "key", "token", "connectionstring", "connection_string", "credential"} {
			if strings.Contains(name, w) {
				out = append(out, fmt.Sprintf("output %s: name mentions %q", d.name, w))
			}
		}
		value, _ := f.rhs(d)
		value = f.expandVars(value, 0)
		if listFunc.MatchString(value) {
			out = append(out, fmt.Sprintf("output %s: value calls a list* function", d.name))
		}
		if m := secretWords.FindString(value); m != "" {
			out = append(out, fmt.Sprintf("output %s: value mentions %q", d.name, m))
		}
		for _, s := range secure {
			if regexp.MustCompile(`\b` + regexp.QuoteMeta(s.name) + `\b`).MatchString(value) {
				out = append(out, fmt.Sprintf("output %s: value uses secure param %s", d.name, s.name))
			}
		}
	}
	return out
}

// expandVars appends, after expr, the values of the vars it refers to (transitively).
func (f *bicepFile) expandVars(expr string, depth int) string {
	if depth > 10 {
		return expr
	}
	out := expr
	for _, id := range regexp.MustCompile(`\b[A-Za-z_]\w*\b`).FindAllString(expr, -1) {
		if d, ok := f.decl("var", id); ok {
			v, _ := f.rhs(d)
			out += "\n" + f.expandVars(v, depth+1)
		}
	}
	return out
}

// loadBicepFiles scans every .bicep file under dir.
func loadBicepFiles(dir string) (map[string]*bicepFile, error) {
	files := map[string]*bicepFile{}
	err := filepath.WalkDir(dir, func(path string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() || filepath.Ext(path) != ".bicep" {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f, err := parseBicep(path, string(b))
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		files[filepath.ToSlash(path)] = f
		return nil
	})
	return files, err
}
