package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
)

// startProfiles writes the CPU profile of the whole run to
// $FLOWLENS_CPUPROFILE and, at the end, the heap (allocation) profile to
// $FLOWLENS_MEMPROFILE, for benchmarks (BENCHMARKS.md): `flowlens run` fed
// by `flowlens replay`, then `go tool pprof`. Neither is set by default.
// The returned function stops and writes them.
func startProfiles(stderr io.Writer) func() {
	var stops []func()
	if path := os.Getenv("FLOWLENS_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(stderr, "flowlens: FLOWLENS_CPUPROFILE:", err)
		} else {
			stops = append(stops, func() { pprof.StopCPUProfile(); f.Close() })
		}
	}
	if path := os.Getenv("FLOWLENS_MEMPROFILE"); path != "" {
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
