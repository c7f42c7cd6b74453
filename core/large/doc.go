// Package large carries messages larger than max_message_size along the
// Plumtree tree: the origin cuts the payload into chunks, each sent as an
// ordinary core message (so eager push, IHave/Graft pulls and anti-entropy
// repair apply to every chunk with nothing new to repair), followed by a
// manifest (size, chunk size, chunk count, SHA-256 of the whole payload,
// origin time). Every node puts the message together again with an
// Assembler and delivers it only once it is complete and its digest
// matches.
//
// The package is pure: the codec (AppendChunk, AppendManifest, Decode) and
// the Assembler do no I/O, read no clock and start no goroutines. The
// runtime (core/node, Node.BroadcastLarge) sends the parts and runs the
// Assembler. The design, its bounds and what happens when a transfer cannot
// complete are in docs/design.md, "Large messages".
package large
