package consent

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
	"strings"
)

// pageStyle is the pages' only styling, inline; the Content-Security-Policy
// allows exactly this text by its hash, and nothing else at all.
const pageStyle = `body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:42em;margin:3em auto;padding:0 1em;line-height:1.5;color:#1b1b1b}` +
	`h1{font-size:1.6em}h1.ok{color:#0b6a0b}h1.warn{color:#8a5300}h1.bad{color:#a4262c}` +
	`dt{font-weight:600}dd{margin:0 0 .5em 0}code{word-break:break-all}.detail{color:#555;font-size:.9em}`

var pageCSP = func() string {
	sum := sha256.Sum256([]byte(pageStyle))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; " +
		"img-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}()

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{.Title}} - seatsync</title>
<style>` + pageStyle + `</style>
</head>
<body>
<main>
<p>seatsync · Partner Center consent</p>
<h1 class="{{.Tone}}">{{.Title}}</h1>
{{range .Paragraphs}}<p>{{.}}</p>
{{end}}{{if .Facts}}<dl>
{{range .Facts}}<dt>{{.Name}}</dt><dd>{{.Value}}</dd>
{{end}}</dl>
{{end}}{{if .Next}}<h2>What to do next</h2>
<ul>
{{range .Next}}<li>{{.}}</li>
{{end}}</ul>
{{end}}{{if .RetryURL}}<p>To try again, open the consent link again: <a href="{{.RetryURL}}">{{.RetryURL}}</a> (with your function key, as in <code>?code=…</code>, if your browser did not keep it).</p>
{{end}}{{if .Detail}}<p class="detail">Microsoft's own words: <code>{{.Detail}}</code></p>
{{end}}</main>
</body>
</html>
`))

// Tones of a page's heading.
const (
	toneOK   = "ok"
	toneWarn = "warn"
	toneBad  = "bad"
)

// page is one answer of the consent flow. Every field is text, escaped by
// html/template wherever it lands.
type page struct {
	Status     int
	Tone       string
	Title      string
	Paragraphs []string
	Facts      []fact
	Next       []string
	// RetryURL, when set, is offered as the way to start again.
	RetryURL string
	// Detail is Microsoft's error description, shown for support.
	Detail string
}

type fact struct{ Name, Value string }

// setPageHeaders sets the headers of every page (and redirect) the flow
// sends: nothing cached, nothing framed, nothing loaded from anywhere, and
// no Referer carrying the callback's query onwards.
func setPageHeaders(h http.Header) {
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("Referrer-Policy", "no-referrer")
}

func writePage(w http.ResponseWriter, p page) {
	var b bytes.Buffer
	if p.Tone == "" {
		p.Tone = toneBad
	}
	if err := pageTemplate.Execute(&b, p); err != nil {
		// Only a defect in the template can get here.
		b.Reset()
		b.WriteString("<!doctype html><title>seatsync</title><p>The page could not be shown; the server log has the details.</p>")
		p.Status = http.StatusInternalServerError
	}
	setPageHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if p.Status == 0 {
		p.Status = http.StatusOK
	}
	w.WriteHeader(p.Status)
	_, _ = w.Write(b.Bytes())
}

// wantsHTML reports whether the client is a browser (or asks for HTML);
// API clients get the API's JSON error format instead.
func wantsHTML(r *http.Request) bool {
	a := r.Header.Get("Accept")
	return a == "" || strings.Contains(a, "text/html") || !strings.Contains(a, "json")
}
