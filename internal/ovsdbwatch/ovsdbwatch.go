// Package ovsdbwatch is what every OVSDB reader of flowlens (Open
// vSwitch's database for OpenStack ports, OVN's for security-group drops)
// does the same way: a client that reconnects, a first connection retried
// with backoff, and a signal when rows change.
package ovsdbwatch

import (
	"context"
	"log/slog"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/go-logr/logr"
	"github.com/ovn-org/libovsdb/cache"
	"github.com/ovn-org/libovsdb/client"
	"github.com/ovn-org/libovsdb/model"
)

// NewClient returns a client of dbModel for endpoints that reconnects on
// its own after a connection is lost.
func NewClient(dbModel model.ClientDBModel, endpoints []string, log *slog.Logger) (client.Client, error) {
	// libovsdb logs through logr: into our logger, one level down, so that
	// its connection chatter is debug output, not stderr noise.
	lg := logr.FromSlogHandler(log.With("component", "libovsdb").Handler()).V(1)
	opts := []client.Option{client.WithReconnect(10*time.Second, newBackOff()), client.WithLogger(&lg)}
	for _, e := range endpoints {
		opts = append(opts, client.WithEndpoint(e))
	}
	return client.NewOVSDBClient(dbModel, opts...)
}

func newBackOff() *backoff.ExponentialBackOff {
	bo := backoff.NewExponentialBackOff()
	bo.MaxInterval = 30 * time.Second
	bo.MaxElapsedTime = 0
	return bo
}

// Connect connects c, retrying with backoff until it works or ctx is
// done (then it returns ctx's error); failed is told of each failure.
func Connect(ctx context.Context, c client.Client, failed func(error)) error {
	bo := newBackOff()
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := c.Connect(cctx)
		cancel()
		if err == nil {
			return nil
		}
		failed(err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(bo.NextBackOff()):
		}
	}
}

// Changes returns a channel that receives when rows of c's cache were
// added, updated or deleted; several changes before it is read make one.
func Changes(c client.Client) <-chan struct{} {
	changed := make(chan struct{}, 1)
	poke := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	c.Cache().AddEventHandler(&cache.EventHandlerFuncs{
		AddFunc:    func(string, model.Model) { poke() },
		UpdateFunc: func(string, model.Model, model.Model) { poke() },
		DeleteFunc: func(string, model.Model) { poke() },
	})
	return changed
}
