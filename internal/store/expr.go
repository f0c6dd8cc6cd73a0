package store

// The filter language of the console's filter bar and the API's expr
// parameter (docs/api.md, "Filter expressions"):
//
//	vm = web-1 and (dst_port = 80 or dst_port = 8000-8999) and not src_ip = 10.0.0.0/8
//
// Comparisons are DIM OP VALUE with OP one of = != < <= > >= (order only
// on numbers); AND binds tighter than OR; NOT negates; parentheses group;
// two comparisons side by side are ANDed. A value is a word or a quoted
// string ("web 1", 'a"b'). Names compare without regard to case; IP
// dimensions take CIDR prefixes, numeric ones ranges (LO-HI); either-side
// dimensions (vm, ip, …) match a flow when either end does. Every error
// names its place in the expression.

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Expression limits: a filter longer than any sane one is refused.
const (
	maxExprLen   = 4096
	maxExprTerms = 200
	maxExprDepth = 32
)

// ExprError is a mistake in a filter expression, at byte Pos.
type ExprError struct {
	Pos int
	Msg string
}

func (e *ExprError) Error() string {
	return fmt.Sprintf("filter expression, at character %d: %s", e.Pos+1, e.Msg)
}

type tokKind int

const (
	tEOF tokKind = iota
	tWord
	tString
	tOp
	tLParen
	tRParen
)

type token struct {
	kind tokKind
	text string
	pos  int
}

func lex(s string) ([]token, error) {
	var out []token
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			out = append(out, token{tLParen, "(", i})
			i++
		case c == ')':
			out = append(out, token{tRParen, ")", i})
			i++
		case c == '"' || c == '\'':
			j := strings.IndexByte(s[i+1:], c)
			if j < 0 {
				return nil, &ExprError{i, "a quoted value is not closed"}
			}
			out = append(out, token{tString, s[i+1 : i+1+j], i})
			i += j + 2
		case c == '=' || c == '!' || c == '<' || c == '>':
			op := string(c)
			if i+1 < len(s) && s[i+1] == '=' {
				op += "="
			}
			if op == "!" {
				return nil, &ExprError{i, `"!" alone: write != (or not)`}
			}
			out = append(out, token{tOp, op, i})
			i += len(op)
		default:
			j := i
			for j < len(s) && !strings.ContainsRune(" \t\n\r()=!<>\"'", rune(s[j])) {
				j++
			}
			out = append(out, token{tWord, s[i:j], i})
			i = j
		}
	}
	return append(out, token{tEOF, "", len(s)}), nil
}

// exprParser turns tokens into SQL as it reads them.
type exprParser struct {
	toks  []token
	i     int
	args  []any
	terms int
	depth int
}

// ParseExpr checks a filter expression and returns its SQL condition
// (without a leading AND) and arguments.
func ParseExpr(s string) (string, []any, error) {
	if len(s) > maxExprLen {
		return "", nil, &ExprError{maxExprLen, fmt.Sprintf("longer than %d characters", maxExprLen)}
	}
	toks, err := lex(s)
	if err != nil {
		return "", nil, err
	}
	p := &exprParser{toks: toks}
	if p.peek().kind == tEOF {
		return "", nil, nil
	}
	sql, err := p.or()
	if err != nil {
		return "", nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		if t.kind == tRParen {
			return "", nil, &ExprError{t.pos, `")" without its "("`}
		}
		return "", nil, &ExprError{t.pos, fmt.Sprintf("%q: expected and, or, or the end", t.text)}
	}
	return sql, p.args, nil
}

func (p *exprParser) peek() token { return p.toks[p.i] }
func (p *exprParser) next() token { t := p.toks[p.i]; p.i++; return t }

func isWord(t token, w string) bool { return t.kind == tWord && strings.EqualFold(t.text, w) }

func (p *exprParser) or() (string, error) {
	left, err := p.and()
	if err != nil {
		return "", err
	}
	parts := []string{left}
	for isWord(p.peek(), "or") {
		p.next()
		r, err := p.and()
		if err != nil {
			return "", err
		}
		parts = append(parts, r)
	}
	if len(parts) == 1 {
		return left, nil
	}
	return "(" + strings.Join(parts, " OR ") + ")", nil
}

func (p *exprParser) and() (string, error) {
	left, err := p.unary()
	if err != nil {
		return "", err
	}
	parts := []string{left}
	for {
		t := p.peek()
		if isWord(t, "and") {
			p.next()
		} else if t.kind == tEOF || t.kind == tRParen || isWord(t, "or") {
			break
		} // else: side by side, ANDed
		r, err := p.unary()
		if err != nil {
			return "", err
		}
		parts = append(parts, r)
	}
	if len(parts) == 1 {
		return left, nil
	}
	return "(" + strings.Join(parts, " AND ") + ")", nil
}

func (p *exprParser) unary() (string, error) {
	t := p.peek()
	switch {
	case isWord(t, "not"):
		p.next()
		inner, err := p.unary()
		if err != nil {
			return "", err
		}
		return "NOT " + inner, nil
	case t.kind == tLParen:
		p.next()
		if p.depth++; p.depth > maxExprDepth {
			return "", &ExprError{t.pos, fmt.Sprintf("more than %d nested parentheses", maxExprDepth)}
		}
		inner, err := p.or()
		p.depth--
		if err != nil {
			return "", err
		}
		if c := p.next(); c.kind != tRParen {
			return "", &ExprError{c.pos, fmt.Sprintf(`expected ")" to close the "(" at character %d`, t.pos+1)}
		}
		return inner, nil
	case t.kind == tEOF:
		return "", &ExprError{t.pos, "a comparison is missing at the end (e.g. vm = web-1)"}
	case t.kind == tRParen:
		return "", &ExprError{t.pos, `")" where a comparison should be`}
	}
	return p.comparison()
}

func (p *exprParser) comparison() (string, error) {
	d := p.next()
	if d.kind != tWord {
		return "", &ExprError{d.pos, fmt.Sprintf("%q: expected a dimension (e.g. vm, dst_port, src_ip)", d.text)}
	}
	if p.terms++; p.terms > maxExprTerms {
		return "", &ExprError{d.pos, fmt.Sprintf("more than %d comparisons", maxExprTerms)}
	}
	name := strings.ToLower(d.text)
	var cols []Dimension
	if dim, ok := LookupDimension(name); ok {
		cols = []Dimension{dim}
	} else if e, ok := LookupEitherSide(name); ok {
		cols = []Dimension{dimByName[e.Of[0]], dimByName[e.Of[1]]}
	} else {
		return "", &ExprError{d.pos, fmt.Sprintf("%q is not a dimension (GET /api/v1/dimensions lists them; either side: vm, project, network, host, ip, mac, interface)", d.text)}
	}
	op := p.next()
	if op.kind != tOp {
		return "", &ExprError{op.pos, fmt.Sprintf("after %s, expected = != < <= > or >=", d.text)}
	}
	v := p.next()
	if v.kind != tWord && v.kind != tString {
		return "", &ExprError{v.pos, fmt.Sprintf("after %s %s, expected a value", d.text, op.text)}
	}
	parts := make([]string, len(cols))
	for i, c := range cols {
		s, err := p.cond(c, op, v)
		if err != nil {
			return "", err
		}
		parts[i] = s
	}
	if len(parts) == 1 {
		return parts[0], nil
	}
	// either side: "=" if either end matches; "!=" if neither does
	join := " OR "
	if op.text == "!=" {
		join = " AND "
	}
	return "(" + strings.Join(parts, join) + ")", nil
}

// cond is one column's condition.
func (p *exprParser) cond(c Dimension, op, v token) (string, error) {
	neg := op.text == "!="
	order := op.text != "=" && op.text != "!="
	switch {
	case c.Int:
		if lo, hi, ok := strings.Cut(v.text, "-"); ok && v.kind == tWord && lo != "" && !order {
			a, err1 := strconv.ParseInt(lo, 10, 64)
			b, err2 := strconv.ParseInt(hi, 10, 64)
			if err1 != nil || err2 != nil {
				return "", &ExprError{v.pos, fmt.Sprintf("%q: a range is two whole numbers, LO-HI", v.text)}
			}
			if a > b {
				return "", &ExprError{v.pos, fmt.Sprintf("%q: the range is inverted (write %d-%d)", v.text, b, a)}
			}
			p.args = append(p.args, a, b)
			s := c.Name + " BETWEEN ? AND ?"
			if neg {
				s = "NOT " + s
			}
			return s, nil
		}
		val, err := c.value(v.text)
		if err != nil {
			return "", &ExprError{v.pos, strings.TrimPrefix(err.Error(), "bad request: ")}
		}
		p.args = append(p.args, val)
		op := op.text
		return c.Name + " " + op + " ?", nil
	case order:
		return "", &ExprError{op.pos, fmt.Sprintf("%s is not a number: use = or != (and for %s, a prefix or a name)", c.Name, c.Name)}
	case c.kind == "ip" && strings.Contains(v.text, "/"):
		pre, err := netip.ParsePrefix(strings.TrimSpace(v.text))
		if err != nil {
			return "", &ExprError{v.pos, fmt.Sprintf("%q is not a CIDR prefix (e.g. 10.0.0.0/8, fd00::/8)", v.text)}
		}
		if pre.Masked() != pre {
			return "", &ExprError{v.pos, fmt.Sprintf("%q has host bits set: the prefix is %s", v.text, pre.Masked())}
		}
		pats, exact, err := prefixPatterns(pre)
		if err != nil {
			return "", &ExprError{v.pos, err.Error()}
		}
		var ors []string
		for _, pt := range pats {
			ors = append(ors, c.Name+" LIKE ?")
			p.args = append(p.args, pt)
		}
		if len(exact) > 0 {
			ors = append(ors, c.Name+" IN ("+placeholders(len(exact))+")")
			for _, e := range exact {
				p.args = append(p.args, e)
			}
		}
		s := "(" + strings.Join(ors, " OR ") + ")"
		if neg {
			s = "NOT " + s
		}
		return s, nil
	case c.kind == "ip" || c.kind == "mac":
		val, err := c.value(v.text)
		if err != nil {
			return "", &ExprError{v.pos, strings.TrimPrefix(err.Error(), "bad request: ")}
		}
		p.args = append(p.args, val)
		return c.Name + " " + op.text + " ?", nil
	}
	// names: without regard to case
	p.args = append(p.args, strings.ToLower(v.text))
	return "lower(" + c.Name + ") " + op.text + " ?", nil
}

// prefixPatterns turns a prefix into LIKE patterns and exact addresses
// over the canonical text the store keeps (plain SQL: no address type in
// both engines). IPv4: the whole octets, then each value the next octet
// may take (at most 128). IPv6: whole groups of 16 bits, none of them 0
// (the text compresses zero groups).
func prefixPatterns(p netip.Prefix) (likes, exact []string, err error) {
	a, bits := p.Addr(), p.Bits()
	if a.Is4() {
		b := a.As4()
		if bits == 0 {
			return []string{"%.%.%.%"}, nil, nil
		}
		full, rest := bits/8, bits%8
		head := ""
		for i := 0; i < full; i++ {
			head += strconv.Itoa(int(b[i])) + "."
		}
		if rest == 0 {
			if full == 4 {
				return nil, []string{a.String()}, nil
			}
			return []string{head + "%"}, nil, nil
		}
		n := 1 << (8 - rest)
		for v := int(b[full]); v < int(b[full])+n; v++ {
			if full == 3 {
				exact = append(exact, head+strconv.Itoa(v))
			} else {
				likes = append(likes, head+strconv.Itoa(v)+".%")
			}
		}
		return likes, exact, nil
	}
	if bits == 128 {
		return nil, []string{a.String()}, nil
	}
	if bits%16 != 0 || bits == 0 {
		return nil, nil, fmt.Errorf("IPv6 prefixes of a whole number of 16-bit groups only (/16, /32, /48, /64…), not /%d", bits)
	}
	b := a.As16()
	head := ""
	for i := 0; i < bits/16; i++ {
		g := int(b[2*i])<<8 | int(b[2*i+1])
		if g == 0 {
			return nil, nil, fmt.Errorf("IPv6 prefixes whose groups are not 0 only (the stored text compresses zeros): %s", p)
		}
		head += strconv.FormatInt(int64(g), 16) + ":"
	}
	return []string{head + "%"}, nil, nil
}
