package bench

import "errors"

// WriteReports writes report.json, report.md and report.html to dir (next commit).
func WriteReports(dir string, r Report) error {
	return errors.New("bench: --report: not written yet")
}
