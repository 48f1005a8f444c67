#!/usr/bin/env bash
# Builds the face the application forms are printed in (docs/forms.md "Fonts"):
# Noto Sans CJK SC Regular cut to GB 2312 + every character of the catalog + ASCII + CJK
# punctuation + fullwidth forms, desubroutinized (cairo 1.16's CFF subsetter drops a
# subroutine of 如 and prints it blank), renamed "Shouli Sans" so that it never stands in for
# the system face. Rebuilt only when missing or older than its inputs.
# Usage: scripts/make-font.sh OUTDIR   (writes OUTDIR/ShouliSans-Regular.otf)
set -euo pipefail
cd "$(dirname "$0")/.."
out_dir=${1:?usage: scripts/make-font.sh OUTDIR}
src=${SHOULI_NOTO_SANS_CJK:-/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc}
out="$out_dir/ShouliSans-Regular.otf"

if [ ! -f "$src" ]; then
  echo "make-font: $src missing (Debian package fonts-noto-cjk); forms use the system face" >&2
  exit 0
fi
if [ -f "$out" ] && [ "$out" -nt "$src" ] && [ "$out" -nt "$0" ] &&
   [ -z "$(find catalog -name '*.json' -newer "$out" -print -quit 2>/dev/null)" ]; then
  exit 0
fi
mkdir -p "$out_dir"
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
# Debian's python3 (python3-fonttools), whatever python3 comes first on PATH
/usr/bin/python3 - "$src" "$tmp" <<'PY'
import glob, sys
from fontTools import subset
from fontTools.ttLib import TTFont

src, out = sys.argv[1], sys.argv[2]
chars = set(range(0x20, 0x7F))
for hi in range(0xA1, 0xF8):
    for lo in range(0xA1, 0xFF):
        try:
            chars.update(ord(c) for c in bytes([hi, lo]).decode("gb2312"))
        except UnicodeDecodeError:
            pass
for lo, hi in ((0x3000, 0x303F), (0xFF00, 0xFFEF), (0x2000, 0x206F), (0x2100, 0x214F),
               (0x2190, 0x21FF), (0x2460, 0x24FF), (0x2500, 0x25FF), (0x2600, 0x27BF)):
    chars.update(range(lo, hi + 1))
for path in glob.glob("catalog/**/*.json", recursive=True):
    with open(path, encoding="utf-8") as f:
        chars.update(ord(c) for c in f.read() if ord(c) >= 0x80)

font = TTFont(src, fontNumber=2, lazy=False)  # index 2 of the collection: Noto Sans CJK SC
opts = subset.Options()
opts.desubroutinize = True
opts.name_IDs = ["*"]
opts.name_languages = ["*"]
opts.layout_features = ["*"]
opts.notdef_outline = True
sub = subset.Subsetter(opts)
sub.populate(unicodes=sorted(chars))
sub.subset(font)

family, ps = "Shouli Sans", "ShouliSans-Regular"
names = font["name"]
names.names = [n for n in names.names if n.nameID not in (1, 2, 3, 4, 6, 16, 17)]
for nid, text in ((1, family), (2, "Regular"), (3, ps), (4, family + " Regular"), (6, ps)):
    names.setName(text, nid, 3, 1, 0x409)
    names.setName(text, nid, 1, 0, 0)
cff = font["CFF "].cff
cff.fontNames = [ps]
top = cff.topDictIndex[0]
for key, val in (("FamilyName", family), ("FullName", family + " Regular")):
    if hasattr(top, key):
        setattr(top, key, val)
font.save(out)
PY
mv "$tmp" "$out"
trap - EXIT
echo "make-font: wrote $out ($(stat -c %s "$out") bytes)"
