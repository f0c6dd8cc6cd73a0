package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/flowlens/flowlens/internal/console"
)

// cmdConsole holds console helpers: hash-password reads a password on
// standard input and prints the bcrypt hash for console.auth.password_hash.
func cmdConsole(args []string, stdout, stderr io.Writer) error {
	if len(args) != 1 || args[0] != "hash-password" {
		fmt.Fprintln(stderr, "Usage: flowlens console hash-password < password-file\n\nPrints the bcrypt hash to put in console.auth.password_hash (with console.auth.mode: basic).")
		return errUsage
	}
	fmt.Fprint(stderr, "password: ")
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && line == "" {
		return fmt.Errorf("no password on standard input")
	}
	h, err := console.HashPassword(strings.TrimRight(line, "\r\n"))
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, h)
	return nil
}
