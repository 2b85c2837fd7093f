// Package archive2imap holds what the archive2imap command embeds: the
// sample archive its demo migrates. The tool itself is in
// cmd/archive2imap; its parts are the packages importers, plan, uploader
// and report.
package archive2imap

import "embed"

// SampleArchive is testdata/sample: a small Thunderbird "Local Folders"
// tree (Inbox, Sent, Drafts, Trash, Archives/2019, Projects/Café Ümlaut)
// with read, answered, flagged, draft and deleted-but-not-compacted
// messages, a duplicate, and messages without a Message-ID.
//
//go:embed testdata/sample
var SampleArchive embed.FS
