package importers

import (
	"reflect"
	"testing"
	"testing/fstest"
)

// FuzzEmlx reads arbitrary bytes as a .partial.emlx file of a store whose
// Attachments directory (in memory) holds files for the common part numbers
// and whose Messages directory holds a sidecar .emlxpart. It must never
// panic; a file it reads must have Size == len(Data), the key KeyOf gives
// for Data, and the same Size, Key, flags, date and warnings when read
// without Data (which measures attachments instead of encoding them). The
// seed corpus (testdata/fuzz/FuzzEmlx) holds the handmade fixtures.
func FuzzEmlx(f *testing.F) {
	f.Add([]byte("2945      \nFrom: a@example.org\n\nbody\n<?xml version=\"1.0\"?>\n<plist><dict><key>flags</key><integer>17</integer></dict></plist>\n"))
	f.Add([]byte("3\nab\n"))
	f.Add([]byte("0\n"))
	f.Add([]byte("this is an invalid .emlx structure"))
	f.Add([]byte("99\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Transfer-Encoding: base64\nX-Apple-Content-Length: 4\n\n\n--b-<?xml?><plist><dict/></plist>"))
	f.Add([]byte("80\nContent-Type: text/plain; name=a.txt\nContent-Transfer-Encoding: quoted-printable\nX-Apple-Content-Length: 4\n"))
	f.Add([]byte("200\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: message/rfc822\n\nContent-Type: multipart/mixed; boundary=c\n\n--c\nContent-Transfer-Encoding: 7bit\nX-Apple-Content-Length: 4\n\n\n--c--\n--b--\n"))

	fsys := fstest.MapFS{
		"Attachments/1/1/a.bin":     {Data: []byte{0, 1, 2, '\r', '\n', 0xff, '\r'}},
		"Attachments/1/2/a.txt":     {Data: []byte("text with = and \xc3\xbc \nand a long line " + string(make([]byte, 100)) + "\r")},
		"Attachments/1/2.1/x":       {Data: []byte("\n")},
		"Attachments/1/2.2/y":       {Data: []byte("y")},
		"Attachments/1/2.2/z":       {Data: []byte("z")},
		"Attachments/1/3/empty":     {Data: nil},
		"Attachments/1/4/dir/file":  {Data: []byte("in a bundle")},
		"Attachments/1/5/raw.bin":   {Data: []byte("line1\nline2\r")},
		"Messages/1.2.2.emlxpart":   {Data: []byte("QUJD\r\n")},
		"Attachments/1/1.1/one.txt": {Data: []byte("one\n")},
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		src := emlxSource{fsys: fsys, dir: "Messages", name: "1.partial.emlx"}
		m, err := parseEmlx(raw, src, true)
		if err != nil {
			if _, err2 := parseEmlx(raw, src, false); err2 == nil {
				t.Fatalf("read with Data fails (%v), without it succeeds", err)
			}
			return
		}
		if m.Size != int64(len(m.Data)) {
			t.Fatalf("Size = %d, len(Data) = %d", m.Size, len(m.Data))
		}
		if key, id := KeyOf(m.Data); key != m.Key || id != m.MessageID {
			t.Fatalf("Key, MessageID = %q, %q; KeyOf(Data) = %q, %q", m.Key, m.MessageID, key, id)
		}
		scan, err := parseEmlx(raw, src, false)
		if err != nil {
			t.Fatalf("read without Data fails (%v), with it succeeds", err)
		}
		m.Data = nil
		if !reflect.DeepEqual(scan, m) {
			t.Fatalf("scan and read with Data differ:\n scan %+v\n data %+v", scan, m)
		}
	})
}
