package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/flowlens/flowlens/internal/config"
)

func cmdConfig(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("flowlens config", stderr)
	effective := fs.Bool("effective", false, "print every setting's value after the file, environment and flags are applied")
	cfg, err := loadConfig(fs, args)
	if err != nil {
		return err
	}
	if !*effective {
		_, err := stdout.Write(config.Default)
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SETTING\tENVIRONMENT\tVALUE")
	for _, s := range cfg.Settings() {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s[0], s[1], s[2])
	}
	return tw.Flush()
}
