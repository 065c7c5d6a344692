package partnercenter

import "time"

// SetMaxPages lowers the page bound so a test can reach it quickly.
func (c *Client) SetMaxPages(n int) { c.maxPages = n }

// ParseDate exposes parseDate to the tests.
func ParseDate(v string) (*time.Time, bool) { return parseDate(v) }
