// Command chat is a terminal chat over Plumtree: every line typed is a
// broadcast, every broadcast received is printed. Start three in three
// terminals and they talk:
//
//	go run ./examples/chat -name alice -port 7946
//	go run ./examples/chat -name bob   -port 7956 -join 127.0.0.1:7946
//	go run ./examples/chat -name carol -port 7966 -join 127.0.0.1:7946
//
// Type /who for the members, /quit (or Ctrl-D) to leave. Without -name the
// chat picks $USER plus a short random suffix and says so; a name held by a
// live member is refused (the chat exits with status 1).
package main
