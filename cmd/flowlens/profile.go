package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"runtime/trace"
	"time"
)

// startProfiles writes the CPU profile of the whole run to
// $FLOWLENS_CPUPROFILE and, at the end, the heap (allocation) profile to
// $FLOWLENS_MEMPROFILE, for benchmarks (BENCHMARKS.md): `flowlens run` fed
// by `flowlens replay`, then `go tool pprof`. Neither is set by default.
// $FLOWLENS_HEAPPROFILE_AT (a duration) also writes the heap as it is at
// that time after the start, while the pipeline runs, to
// $FLOWLENS_MEMPROFILE.live. $FLOWLENS_TRACE writes an execution trace of
// the whole run (`go tool trace`: where goroutines wait). The returned
// function stops and writes them.
func startProfiles(stderr io.Writer) func() {
	var stops []func()
	// Both write to their file for the whole run.
	for _, p := range []struct {
		env   string
		start func(io.Writer) error
		stop  func()
	}{
		{"FLOWLENS_CPUPROFILE", pprof.StartCPUProfile, pprof.StopCPUProfile},
		{"FLOWLENS_TRACE", trace.Start, trace.Stop},
	} {
		path := os.Getenv(p.env)
		if path == "" {
			continue
		}
		f, err := os.Create(path)
		if err == nil {
			err = p.start(f)
		}
		if err != nil {
			fmt.Fprintf(stderr, "flowlens: %s: %v\n", p.env, err)
			continue
		}
		stop := p.stop
		stops = append(stops, func() { stop(); f.Close() })
	}
	if path := os.Getenv("FLOWLENS_MEMPROFILE"); path != "" {
		if at, err := time.ParseDuration(os.Getenv("FLOWLENS_HEAPPROFILE_AT")); err == nil {
			t := time.AfterFunc(at, func() {
				if f, err := os.Create(path + ".live"); err == nil {
					_ = pprof.Lookup("heap").WriteTo(f, 0)
					f.Close()
				}
			})
			stops = append(stops, func() { t.Stop() })
		}
		stops = append(stops, func() {
			f, err := os.Create(path)
			if err == nil {
				runtime.GC()
				err = pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
			if err != nil {
				fmt.Fprintln(stderr, "flowlens: FLOWLENS_MEMPROFILE:", err)
			}
		})
	}
	return func() {
		for _, stop := range stops {
			stop()
		}
	}
}

// defaultGCPercent is the collector's target when GOGC is not set: the
// heap may grow by half its live size between collections instead of
// doubling. flowlens' live heap is mostly records in flight (batches of
// ~1 KB records on their way to the outputs), so with Go's default of 100
// a burst left that much garbage again on top, and the peak RSS followed;
// its allocation rate is low (batches are pooled), so collecting twice as
// often costs little CPU (BENCHMARKS.md section 2).
const defaultGCPercent = 50

// tuneGC applies defaultGCPercent unless the environment sets GOGC.
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
}
