package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// figure is one measured value. Max, when set, is the target from the issue:
// the value must stay below it.
type figure struct {
	Scenario string  `json:"scenario"`
	Name     string  `json:"name"`
	Value    float64 `json:"value"`
	Unit     string  `json:"unit"`
	Max      float64 `json:"target_max,omitempty"`
	Met      *bool   `json:"target_met,omitempty"`
}

// machine describes where the figures were measured: they mean little
// without it.
type machine struct {
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model"`
	MemoryMB  int64  `json:"memory_mb"`
	Kernel    string `json:"kernel"`
	GoVersion string `json:"go_version"`
	Hedge     string `json:"hedge_binary"`
}

// results is the whole output of a run.
type results struct {
	Machine  machine   `json:"machine"`
	Started  time.Time `json:"started"`
	Duration float64   `json:"duration_s"`
	Figures  []figure  `json:"figures"`
	Errors   []string  `json:"errors,omitempty"`
}

func machineFacts(hedge string) machine {
	m := machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), Hedge: hedge}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	m.CPUModel = procField("/proc/cpuinfo", "model name", ":")
	if v := procField("/proc/meminfo", "MemTotal", ":"); v != "" {
		kb, _ := strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
		m.MemoryMB = kb / 1024
	}
	return m
}

// procField returns the value of the first "key<sep> value" line of file.
func procField(file, key, sep string) string {
	f, err := os.Open(file)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), sep)
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// judge fills Met for the figures that have a target.
func judge(figs []figure) {
	for i := range figs {
		if figs[i].Max > 0 {
			met := figs[i].Value < figs[i].Max
			figs[i].Met = &met
		}
	}
}

// writeTable prints the machine facts and an aligned table of the figures.
func writeTable(w io.Writer, r results) {
	m := r.Machine
	fmt.Fprintf(w, "machine: %d CPUs (%s), %d MB, Linux %s, %s\n", m.CPUs, m.CPUModel, m.MemoryMB, m.Kernel, m.GoVersion)
	fmt.Fprintf(w, "run:     %s, %.0f s\n\n", r.Started.Format(time.RFC3339), r.Duration)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tFIGURE\t     VALUE\tUNIT\tTARGET")
	for _, f := range r.Figures {
		target := ""
		if f.Met != nil {
			verdict := "ok"
			if !*f.Met {
				verdict = "MISSED"
			}
			target = fmt.Sprintf("< %g %s  %s", f.Max, f.Unit, verdict)
		}
		fmt.Fprintf(tw, "%s\t%s\t%10s\t%s\t%s\n", f.Scenario, f.Name, formatValue(f.Value), f.Unit, target)
	}
	_ = tw.Flush()
	for _, e := range r.Errors {
		fmt.Fprintf(w, "\nERROR: %s\n", e)
	}
}

// formatValue keeps three significant digits, enough to compare runs
// without pretending to a precision the measurement lacks.
func formatValue(v float64) string {
	switch {
	case v == 0:
		return "0"
	case v >= 100 || v <= -100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v >= 10 || v <= -10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case v >= 1 || v <= -1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	default:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
}

func writeJSON(w io.Writer, r results) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(r)
}
