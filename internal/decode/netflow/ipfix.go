package netflow

import (
	"encoding/binary"
	"net/netip"
	"time"
)

// msgCtx is what records need from the message that carried them.
type msgCtx struct {
	version   uint16
	addr      netip.Addr
	domain    uint32
	now       time.Time // arrival
	exportSec uint32    // header export time (v9: unix secs)
	uptime    uint32    // v9 header sysUptime, ms
	seq       uint32    // sequence number of the next record
}

func (c *msgCtx) key(id uint16) tkey { return tkey{version: c.version, id: id, domain: c.domain} }

const (
	ipfixHeaderLen = 16
	v9HeaderLen    = 20
)

func (d *Decoder) decodeIPFIX(b []byte, addr netip.Addr, now time.Time, res *Result) error {
	if len(b) < ipfixHeaderLen {
		return Error{ReasonTruncated}
	}
	length := int(binary.BigEndian.Uint16(b[2:]))
	c := msgCtx{
		version:   10,
		addr:      addr,
		now:       now,
		exportSec: binary.BigEndian.Uint32(b[4:]),
		seq:       binary.BigEndian.Uint32(b[8:]),
		domain:    binary.BigEndian.Uint32(b[12:]),
	}
	res.Version = 10
	res.Sequence = c.seq
	res.Domain = c.domain
	res.ExportTime = time.Unix(int64(c.exportSec), 0)
	res.HeaderOK = true
	if length < ipfixHeaderLen {
		return Error{ReasonHeaderLength}
	}
	if length > len(b) {
		return Error{ReasonTruncated}
	}
	// Bytes after the message length are not part of it.
	return d.sets(&c, b[ipfixHeaderLen:length], res)
}

func (d *Decoder) decodeV9(b []byte, addr netip.Addr, now time.Time, res *Result) error {
	if len(b) < v9HeaderLen {
		return Error{ReasonTruncated}
	}
	c := msgCtx{
		version:   9,
		addr:      addr,
		now:       now,
		uptime:    binary.BigEndian.Uint32(b[4:]),
		exportSec: binary.BigEndian.Uint32(b[8:]),
		seq:       binary.BigEndian.Uint32(b[12:]),
		domain:    binary.BigEndian.Uint32(b[16:]),
	}
	res.Version = 9
	res.Sequence = c.seq
	res.Domain = c.domain
	res.SysUptime = c.uptime
	res.ExportTime = time.Unix(int64(c.exportSec), 0)
	res.HeaderOK = true
	// The v9 header's count (records in the datagram) is not checked:
	// exporters disagree on what it counts.
	return d.sets(&c, b[v9HeaderLen:], res)
}

// sets walks the sets (v9: flowsets) of a message.
func (d *Decoder) sets(c *msgCtx, b []byte, res *Result) error {
	if n := d.t.expirePending(c.addr, c.now); n > 0 {
		res.PendingExpired += uint32(n)
	}
	// Set ids: IPFIX 2 template, 3 options template; v9 0 template,
	// 1 options template; 256 and above data; the rest reserved.
	tmplSet, optSet := uint16(2), uint16(3)
	if c.version == 9 {
		tmplSet, optSet = 0, 1
	}
	for len(b) > 0 {
		if len(b) < 4 {
			return Error{ReasonTruncated}
		}
		id := binary.BigEndian.Uint16(b)
		l := int(binary.BigEndian.Uint16(b[2:]))
		if l < 4 {
			return Error{ReasonSetLength}
		}
		if l > len(b) {
			return Error{ReasonTruncated}
		}
		body := b[4:l]
		b = b[l:]
		switch {
		case id == tmplSet:
			d.templateSet(c, false, body, res)
		case id == optSet:
			d.templateSet(c, true, body, res)
		case id >= 256:
			d.dataSet(c, id, body, res)
		default:
			res.UnknownSets++
		}
	}
	return nil
}

func (d *Decoder) templateSet(c *msgCtx, options bool, b []byte, res *Result) {
	for len(b) > 0 {
		id, n, withdraw, stop, reason := scanTemplate(c.version, options, b)
		if stop {
			return
		}
		if reason != ReasonNone {
			res.Errors[reason]++
			return
		}
		raw := b[:n]
		b = b[n:]
		if withdraw {
			d.t.withdraw(c.addr, c.version, c.domain, id)
			res.Withdrawals++
			continue
		}
		released, ok := d.t.define(c.addr, c.version, c.domain, options, raw, c.now)
		if !ok {
			res.Errors[ReasonTemplateLimit]++
			continue
		}
		if options {
			res.OptionsTemplates++
		} else {
			res.Templates++
		}
		if released {
			d.release(c, id, res)
		}
	}
}

// release decodes the held data sets that were waiting for template id.
func (d *Decoder) release(c *msgCtx, id uint16, res *Result) {
	key := c.key(id)
	tpl := d.t.lookup(c.addr, key, c.now)
	if tpl == nil {
		return
	}
	// Open vSwitch's templates serve its other domains too (borrow).
	d.taken = d.t.take(c.addr, key, tpl.prescaled, d.taken[:0])
	for i, p := range d.taken {
		if p.key.domain != c.domain {
			res.BorrowedTemplate++
		}
		pc := msgCtx{
			version:   c.version,
			addr:      c.addr,
			domain:    p.key.domain,
			now:       p.arrived,
			exportSec: p.exportSec,
			uptime:    p.uptime,
			seq:       p.seq,
		}
		before, rev := len(res.Flows), res.ReverseRecords
		d.records(&pc, tpl, p.data, res)
		res.PendingDecoded++
		res.PendingRecords += uint32(len(res.Flows) - before)
		res.ReverseRecords = rev // counted in PendingRecords
		d.taken[i] = nil
	}
}

func (d *Decoder) dataSet(c *msgCtx, id uint16, b []byte, res *Result) {
	tpl := d.t.lookup(c.addr, c.key(id), c.now)
	if tpl != nil {
		d.records(c, tpl, b, res)
		return
	}
	if len(b) == 0 {
		return
	}
	if tpl := d.t.borrow(c.addr, c.key(id), c.now); tpl != nil {
		res.BorrowedTemplate++
		d.records(c, tpl, b, res)
		return
	}
	p := &pendingSet{
		key:       c.key(id),
		data:      append([]byte(nil), b...),
		arrived:   c.now,
		exportSec: c.exportSec,
		uptime:    c.uptime,
		seq:       c.seq,
	}
	tpl, evicted, ok := d.t.hold(c.addr, p)
	if tpl != nil {
		d.records(c, tpl, b, res)
		return
	}
	res.PendingOverflow += uint32(evicted)
	if ok {
		res.PendingHeld++
	} else {
		res.PendingOverflow++
	}
}

// records decodes the records of one data set with tpl.
func (d *Decoder) records(c *msgCtx, tpl *template, b []byte, res *Result) {
	if tpl.prescaled {
		res.OpenVSwitch = true
	}
	var smp *sampling
	if !tpl.options {
		smp = d.t.samplingFor(c.addr, dkey{version: c.version, domain: c.domain}, c.now)
	}
	for len(b) >= tpl.minLen {
		if !tpl.fixed && len(b) < 4 && allZero(b) {
			return // padding
		}
		// Bound what one datagram can make us do. Each options record may
		// rewrite a sampler table.
		if (!tpl.options && len(res.Flows) >= MaxRecordsPerDatagram) ||
			(tpl.options && res.OptionsRecords >= MaxOptionsRecordsPerDatagram) {
			res.Errors[ReasonTooManyRecords]++
			return
		}
		n, ok := d.record(c, tpl, smp, b, res)
		if !ok {
			res.Errors[ReasonRecord]++
			return
		}
		b = b[n:]
		if c.version == 10 {
			c.seq++ // IPFIX numbers data records, v9 datagrams
		}
	}
	// What is left is shorter than a record: padding (RFC 7011 section
	// 3.3.1: zeros) — or data that the template's lengths do not fit, a
	// template that lies about its record size.
	if !allZero(b) {
		res.Errors[ReasonRecord]++
	}
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
