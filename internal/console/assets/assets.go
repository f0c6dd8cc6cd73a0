// Package assets embeds the built web console (web/, built by `npm run build`
// into dist/ here and committed, so `go build` needs no npm).
//
// FS is rooted at dist/: index.html at its top, hashed files under assets/.
// Serve it at / next to /api/v1, for example:
//
//	mux.Handle("/", http.FileServerFS(assets.FS))
//
// Files under assets/ have content hashes in their names and can be cached
// for a long time; index.html must not be.
package assets

import (
	"embed"
	"io/fs"
)

//go:embed dist
var dist embed.FS

// FS holds the console's files, index.html at the root.
var FS fs.FS = mustSub(dist, "dist")

func mustSub(f fs.FS, dir string) fs.FS {
	s, err := fs.Sub(f, dir)
	if err != nil {
		panic(err)
	}
	return s
}
