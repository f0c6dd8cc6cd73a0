//go:build !(linux && (amd64 || arm64))

package replay

import "net"

// useSendmmsg is only a switch for tests here: there is no sendmmsg path.
var useSendmmsg = false

func newSender(c *net.UDPConn) sender { return writeSender{c} }
