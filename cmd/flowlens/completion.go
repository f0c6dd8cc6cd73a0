package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
)

// subcommands is the command tree completion offers.
var subcommands = map[string][]string{
	"":           {"run", "demo", "decode", "replay", "inventory", "ovs", "ovn", "setup", "geoip", "console", "config", "version", "help", "completion"},
	"ovs":        {"configure", "check"},
	"ovn":        {"configure"},
	"setup":      {"elasticsearch", "kibana"},
	"geoip":      {"update"},
	"console":    {"hash-password"},
	"completion": {"bash", "zsh", "fish"},
}

// filesMarker asks the shell to complete file names.
const filesMarker = "__files__"

const bashCompletion = `# bash completion for flowlens: source it, or install it as
# /usr/share/bash-completion/completions/flowlens
_flowlens() {
	local cur=${COMP_WORDS[COMP_CWORD]} out
	# flowlens splits the line itself: bash splits --name=value at "=".
	out=$(flowlens __complete "${COMP_LINE:0:COMP_POINT}" 2>/dev/null) || return 0
	COMPREPLY=()
	if [[ $out == __files__ ]]; then
		[[ $cur == "=" ]] && cur=
		compopt -o filenames 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
	elif [[ -n $out ]]; then
		mapfile -t COMPREPLY <<<"$out"
		[[ ${#COMPREPLY[@]} == 1 && ${COMPREPLY[0]} == *= ]] && compopt -o nospace 2>/dev/null
	fi
	return 0
}
complete -F _flowlens flowlens
`

const zshCompletion = `#compdef flowlens
# zsh completion for flowlens (through bash's): source it, or install it as
# _flowlens in a directory of $fpath.
autoload -U +X bashcompinit && bashcompinit
` + bashCompletion

const fishCompletion = `# fish completion for flowlens: install it as
# ~/.config/fish/completions/flowlens.fish
function __flowlens_complete
	set -l out (flowlens __complete (commandline -cp) 2>/dev/null)
	if test "$out" = __files__
		__fish_complete_path (commandline -ct)
	else
		printf '%s\n' $out
	end
end
complete -c flowlens -f -a '(__flowlens_complete)'
`

func cmdCompletion(args []string, stdout, stderr io.Writer) error {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: flowlens completion bash|zsh|fish")
		return errUsage
	}
	switch args[0] {
	case "bash":
		io.WriteString(stdout, bashCompletion)
	case "zsh":
		io.WriteString(stdout, zshCompletion)
	case "fish":
		io.WriteString(stdout, fishCompletion)
	default:
		return fmt.Errorf("no completion for shell %q: use bash, zsh or fish", args[0])
	}
	return nil
}

// flagLine matches the flag package's usage lines: "  -name type" or
// "  -name" (a boolean).
var flagLine = regexp.MustCompile(`^  -([A-Za-z0-9_.-]+)( \S+)?`)

// cmdComplete prints the candidates for the last word of line (the command
// line up to the cursor): subcommands, or the flags the command's own -h
// lists, so completion never falls behind the flags.
func cmdComplete(args []string, stdout io.Writer) error {
	line := strings.Join(args, " ")
	words := strings.Fields(line)
	if len(words) > 0 {
		words = words[1:] // the program's name
	}
	cur := ""
	if len(words) > 0 && !strings.HasSuffix(line, " ") {
		cur, words = words[len(words)-1], words[:len(words)-1]
	}
	// The command path: the leading words that are subcommands.
	path := ""
	for _, w := range words {
		if next, ok := subcommands[path]; ok && contains(next, w) {
			path = strings.TrimSpace(path + " " + w)
			continue
		}
		break
	}
	var out []string
	switch {
	case strings.HasPrefix(cur, "-"):
		name, _, hasValue := strings.Cut(strings.TrimLeft(cur, "-"), "=")
		if hasValue {
			fmt.Fprintln(stdout, filesMarker)
			return nil
		}
		for _, f := range commandFlags(path) {
			if strings.HasPrefix(f, name) {
				out = append(out, "--"+f)
			}
		}
	case subcommands[path] != nil && !(path == "" && len(words) > 0):
		for _, c := range subcommands[path] {
			if strings.HasPrefix(c, cur) {
				out = append(out, c)
			}
		}
		if path == "" && cur == "" {
			break // flowlens alone runs `run`: its flags come with "-"
		}
	default:
		fmt.Fprintln(stdout, filesMarker)
		return nil
	}
	sort.Strings(out)
	for _, c := range out {
		fmt.Fprintln(stdout, c)
	}
	return nil
}

// commandFlags runs `flowlens PATH -h` and reads the flag names from its
// usage, with "=" after those that take a value.
func commandFlags(path string) []string {
	if path == "" {
		path = "run"
	}
	var buf bytes.Buffer
	run(append(strings.Fields(path), "-h"), io.Discard, &buf)
	var names []string
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		m := flagLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		if m[2] != "" {
			names = append(names, m[1]+"=")
		} else {
			names = append(names, m[1])
		}
	}
	return names
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
