// Package wire is the versioned binary codec of plumtree's protocol
// messages (core.Message): AppendFrame encodes, a Decoder decodes under
// Limits, and CheckHeader lets a transport recognise a frame by its first
// bytes.
//
// # Frame layout
//
// A frame is one message. Framing on a stream (a length prefix) is the
// transport's business; a frame starts with a fixed 3-byte header:
//
//	byte 0   Magic   0xB7
//	byte 1   Version 0x03
//	byte 2   Type    1 Gossip, 2 IHave, 3 Graft, 4 Prune, 5 Join,
//	                 6 JoinReply, 7 Disconnect, 8 Digest, 9 Repair
//	byte 3…  body, by type (below)
//
// The body is built from these encodings:
//
//	uvarint  unsigned LEB128 (encoding/binary.AppendUvarint): 7 bits per
//	         byte, least significant group first, high bit set on every
//	         byte but the last; at most 10 bytes, always in its shortest
//	         form (a non-minimal or overflowing varint is ErrBadVarint)
//	string   uvarint length, then that many bytes
//	id       a message id (core.MessageID):
//	           origin  string, 1..255 bytes (core.MaxPeerIDLen)
//	           seq     8 bytes, big-endian uint64
//
// Sequences are fixed-width because they start at the origin's UnixNano
// (see core.MessageID): about 2^61, 9 bytes as a uvarint, 8 fixed, and a
// fixed field decodes with one load.
//
// Bodies:
//
//	Gossip (1)  id                           origin and sequence
//	            origin_time   uvarint        ms since the Unix epoch (0: none)
//	            hops          uvarint        0..65535
//	            flags         byte           1 repaired (core.Message.Repaired)
//	            header_count  uvarint        ≤ Limits.MaxHeaders (32)
//	            header_count × { key string, value string }
//	                                         keys+values ≤ Limits.MaxHeaderBytes (4096)
//	            payload_len   uvarint        ≤ Limits.MaxPayload
//	            payload       payload_len bytes
//	IHave (2)   count         uvarint        ≤ Limits.MaxIHaves (1024)
//	            count × { id, hops uvarint 0..65535, origin_time uvarint }
//	Graft (3)   count         uvarint        ≤ Limits.MaxIDs (1024); 0 is valid
//	            count × id
//	Prune (4)   (empty)
//	Digest (8)  flags         byte           1 all streams listed, 2 reply
//	            count         uvarint        ≤ core.MaxDigestStreams
//	            count × { origin string, floor uvarint, newest uvarint (ms),
//	                      flags byte (1 complete), runs uvarint
//	                      ≤ core.MaxDigestRuns, runs × { first − previous
//	                      end − 1 uvarint, last − first uvarint } }
//	                                         body ≤ core.MaxDigestBytes
//	Repair (9)  as Gossip
//
// Nothing may follow the last field (ErrTrailing). Example: a Gossip from
// origin "a", sequence 300, origin time 1,700,000,000,000 ms, hop 1, no
// headers, payload "hi" is 25 bytes:
//
//	b7 03 01                  header: magic, version, type Gossip
//	01 61                     origin "a"
//	00 00 00 00 00 00 01 2c   seq 300
//	80 d0 95 ff bc 31         origin time
//	01                        hops 1
//	00                        flags: pushed by the tree
//	00                        no headers
//	02 68 69                  payload "hi"
//
// # Limits and errors
//
// A Decoder checks every count and length against its Limits (and against
// the bytes left in the frame) before it allocates anything for it, so a
// hostile frame costs at most a small multiple of its own size. Every
// violation is an error wrapping one sentinel (ErrBadMagic, ErrBadVersion,
// ErrUnknownType, ErrTruncated, ErrBadVarint, ErrTooLarge, ErrTooMany,
// ErrBadPeerID, ErrBadHops, ErrTrailing) with the field, the value and the
// bound, for example
//
//	wire: too large: gossip payload is 70000 bytes, max 65536
//
// AppendFrame refuses messages that break the hard limits (the core.Max*
// constants) with the same sentinels, so everything it encodes decodes under
// Limits whose MaxPayload admits the payload.
//
// # Allocation and ownership
//
// AppendFrame appends to a caller buffer and grows it at most once.
// AppendFrameHead appends the same frame without the payload bytes (the
// payload is the last field), so that a transport can write head and payload
// one after the other and a relay forwards a payload without copying it.
// Decode
// reuses the Message's slices, lets Payload alias the frame and takes origin
// PeerIDs from a bounded intern table, so decoding a Gossip without headers,
// an IHave or a Graft from known origins allocates nothing; a Gossip with
// headers costs one string for all of them. Every accepted frame is
// canonical: re-encoding the decoded message gives back the same bytes.
//
// A Decoder is not safe for concurrent use; AppendFrame and CheckHeader are.
//
// # Sharing a port
//
// The first byte 0xB7 is none of the first bytes of hashicorp/memberlist
// (v0.7.0) packets and streams: message types 0..13 (ping … errMsg,
// including compressMsg 9, encryptMsg 10 and hasCrcMsg 12), the label
// header hasLabelMsg 244 and the encryption versions 0 and 1 that start an
// encrypted packet. It is not a TLS record type either (20..24; a handshake
// starts with 0x16), nor the first byte of HTTP or any other ASCII or UTF-8
// text (0xB7 is a UTF-8 continuation byte). A TCP transport can therefore
// demultiplex one listener by peeking at the first byte of a connection.
package wire
