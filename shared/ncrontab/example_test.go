package ncrontab_test

import (
	"fmt"
	"time"

	"github.com/seatsync/seatsync/shared/ncrontab"
)

func Example() {
	// The schedule of a timer trigger's function.json: 02:00:00 every day.
	s, err := ncrontab.Parse("0 0 2 * * *")
	if err != nil {
		fmt.Println(err)
		return
	}
	t := time.Date(2026, 6, 15, 13, 45, 0, 0, time.UTC)
	for range 3 {
		t = s.Next(t)
		fmt.Println(t.Format(time.RFC3339))
	}

	_, err = ncrontab.Parse("0 0 25 * * *")
	fmt.Println(err)
	// Output:
	// 2026-06-16T02:00:00Z
	// 2026-06-17T02:00:00Z
	// 2026-06-18T02:00:00Z
	// ncrontab: hour field "25": value 25 out of range 0-23
}

func ExampleExpand() {
	// Azure Functions resolves "%NAME%" schedules from app settings; a map
	// stands in for os.LookupEnv here.
	settings := map[string]string{"SEATSYNC_SYNC_SCHEDULE": "0 */5 * * * *"}
	lookup := func(name string) (string, bool) {
		v, ok := settings[name]
		return v, ok
	}
	expr, err := ncrontab.Expand("%SEATSYNC_SYNC_SCHEDULE%", lookup)
	if err != nil {
		fmt.Println(err)
		return
	}
	s, err := ncrontab.Parse(expr)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(s, "->", s.Next(time.Date(2026, 6, 15, 10, 3, 17, 0, time.UTC)).Format(time.RFC3339))

	_, err = ncrontab.Expand("%MISSING%", lookup)
	fmt.Println(err)
	// Output:
	// 0 */5 * * * * -> 2026-06-15T10:05:00Z
	// ncrontab: variable %MISSING% is not set
}
