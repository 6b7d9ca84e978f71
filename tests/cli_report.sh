#!/usr/bin/env bash
# End-to-end tests of `deepc report` on a small model trained here (3000
# training images, 2 epochs; the report covers the first 500 test images):
# the page has every section, references nothing outside itself (no http
# src/href, no scripts, no <link>, no url(), no @import), embeds its images
# as PNG data: URIs that decode, escapes group labels, agrees with `deepc
# eval`, is the same bytes twice with --no-date, and renders in headless
# Chromium to a screenshot that is far from blank (distinct colours and
# "ink" counted by tests/tools/png_colors, checked against a blank page).
# Bad inputs (missing model, bad groups CSV, unwritable --out, bad options)
# each give a one-line message and a non-zero exit. Chromium is required:
# scripts/setup.sh installs it; without it this test FAILS.
set -u
BIN=${DEEPC_BIN:-build/deepc}
TOOLS=$(dirname "$BIN")
source "$(dirname "$0")/lib_cli.sh"
cli_begin report
# has FILE NEEDLE... : every needle occurs in FILE
has() { local f=$1; shift; for n in "$@"; do grep -qF -- "$n" "$f" || { bad "$f lacks '$n'"; return; }; done; ok; }
# finish: the summary line and the exit status
finish() { echo "$pass passed, $fail failed"; [ "$fail" -eq 0 ]; exit $?; }

[ -d /usr/share/datasets/fashion-mnist ] || { echo "Fashion-MNIST missing: run scripts/setup.sh"; exit 1; }
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROMIUM" ] || bad "chromium is not installed: run scripts/setup.sh (it installs Debian's chromium for this test)"
[ -x "$TOOLS/png_colors" ] || bad "$TOOLS/png_colors missing: build the test tools (cmake --build build)"

expect_ok "report --help" "$BIN" report --help
has "$T/out" "--data" "--groups" "--out" "--examples" "--method" "builtin:brightness"
expect_ok "train" "$BIN" train --limit 3000 --test-limit 500 --epochs 2 --lr 0.01 --threads 2 --seed 3 --quiet \
  --out "$T/m.safetensors"

# groups for the first 500 test images; one label needs escaping
{ echo "index,group"; for i in $(seq 0 499); do
    if [ $((i % 4)) = 0 ]; then echo "$i,<b>north</b> & co"; else echo "$i,south"; fi; done; } > "$T/groups.csv"
R="$BIN report $T/m.safetensors --limit 500 --threads 2"
expect_ok "report" $R --groups "$T/groups.csv" --out "$T/report.html" --examples 8 --method ig
has "$T/out" "wrote $T/report.html"
H=$T/report.html
[ -s "$H" ] && ok || bad "no report written"
ls "$T" | grep -q '\.tmp\.' && bad "temporary file left behind" || ok

# self-contained: nothing loaded from elsewhere
if grep -niE 'src="http|href="http|src=.//|<script|url\(|@import|<link' "$H" > "$T/ext"; then
  bad "the page refers to something external: $(head -c 300 "$T/ext")"
else ok; fi
# every src= is an embedded PNG: 2 per example
nsrc=$(grep -o 'src="' "$H" | wc -l); npng=$(grep -o 'src="data:image/png;base64,' "$H" | wc -l)
[ "$nsrc" = 16 ] && [ "$npng" = 16 ] && ok || bad "$nsrc src attributes, $npng PNG data URIs (want 16 each)"
# ... and each decodes to a PNG
ndec=0
for b64 in $(grep -o 'src="data:image/png;base64,[A-Za-z0-9+/=]*' "$H" | sed 's/.*base64,//'); do
  [ "$(printf '%s' "$b64" | base64 -d 2>/dev/null | head -c 8 | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] &&
    ndec=$((ndec+1))
done
[ "$ndec" = 16 ] && ok || bad "$ndec of 16 images decode to PNG"
# every section, and the things in them
for id in summary model data training confusion metrics calibration examples fairness; do
  grep -qF "<section id=\"$id\">" "$H" && ok || bad "section '$id' missing"
done
has "$H" "<!DOCTYPE html>" "</html>" "conv1" "total parameters" "Learning rate" "Accuracy" "Loss" \
    "Configuration" "Provenance" "Privacy" "predicted class" "true class" "Most confused pairs" \
    "macro avg" "weighted avg" "top-5 accuracy" "ECE" "Reliability diagram" "Confidence histogram" \
    "Ankle boot" "T-shirt/top" "ig attribution" "demographic parity difference" "equalized odds difference" \
    "worst-group accuracy" "checks flagged"
[ "$(grep -o '<svg' "$H" | wc -l)" -ge 6 ] && ok || bad "fewer than 6 SVG charts"
[ "$(grep -o 'class="cm"' "$H" | wc -l)" = 100 ] && ok || bad "confusion matrix is not 10x10"
[ "$(grep -o '<div class="ex ' "$H" | wc -l)" = 8 ] && ok || bad "not 8 examples"
grep -q '<div class="ex wrong">' "$H" && grep -q '<div class="ex right">' "$H" && ok || bad "examples are not mixed"
# strings from files are escaped
grep -qF '&lt;b&gt;north&lt;/b&gt; &amp; co' "$H" && ! grep -qF '<b>north</b>' "$H" && ok || bad "group label not escaped"
# the accuracy on the page is eval's
"$BIN" eval "$T/m.safetensors" --limit 500 --threads 2 --json > "$T/eval.json" 2>/dev/null
acc=$(sed -n 's/.*"accuracy":\([0-9.]*\).*/\1/p' "$T/eval.json")
want=$(awk -v a="$acc" 'BEGIN{printf "%.2f%%", 100*a}')
grep -qF "<b>$want</b><span>accuracy, n=500" "$H" && ok || bad "page accuracy differs from eval's $want"

# deterministic without the date; other methods and built-in groups
expect_ok "report --no-date 1" $R --no-date --examples 4 --method saliency --groups builtin:brightness --out "$T/a.html"
expect_ok "report --no-date 2" $R --no-date --examples 4 --method saliency --groups builtin:brightness --out "$T/b.html"
cmp -s "$T/a.html" "$T/b.html" && ok || bad "two --no-date reports differ"
has "$T/a.html" "builtin:brightness" "saliency attribution"
grep -q "generated" "$T/a.html" && bad "--no-date page has a date" || ok
expect_ok "report gradcam, no groups, no examples" $R --examples 0 --method gradcam --out "$T/c.html"
grep -q "<img" "$T/c.html" && bad "--examples 0 embeds images" || ok
has "$T/c.html" "No groups given" "<section id=\"fairness\">"

# renders in headless Chromium, and the screenshot is far from blank
shoot() { # shoot HTML PNG
  "$CHROMIUM" --headless --no-sandbox --disable-gpu --user-data-dir="$(mktemp -d "$T/chrome-XXXXXX")" \
    --screenshot="$2" --window-size=1200,3000 "file://$1" >"$T/chrome.log" 2>&1
}
if [ -n "$CHROMIUM" ] && [ -x "$TOOLS/png_colors" ]; then
  echo '<!DOCTYPE html><html><body></body></html>' > "$T/blank.html"
  shoot "$T/blank.html" "$T/blank.png"
  shoot "$H" "$T/shot.png"
  if [ -s "$T/shot.png" ] && [ -s "$T/blank.png" ]; then
    ok
    read -r bw bh bcol bink < <("$TOOLS/png_colors" "$T/blank.png")
    read -r w h col ink < <("$TOOLS/png_colors" "$T/shot.png")
    echo "  blank page: ${bw}x${bh}, $bcol colours, ink $bink; report: ${w}x${h}, $col colours, ink $ink"
    [ "$w" = 1200 ] && [ "$h" = 3000 ] && ok || bad "screenshot is ${w}x${h}, want 1200x3000"
    [ "$bcol" -le 2 ] && ok || bad "the blank page has $bcol colours: the check below would prove nothing"
    [ "$col" -ge 500 ] && ok || bad "the report's screenshot has only $col colours (blank: $bcol)"
    awk -v i="$ink" 'BEGIN{exit !(i > 0.15)}' && ok || bad "the report's screenshot is mostly background (ink $ink)"
    [ "$(stat -c %s "$T/shot.png")" -gt $((5 * $(stat -c %s "$T/blank.png"))) ] && ok ||
      bad "screenshot ($(stat -c %s "$T/shot.png") B) is not much bigger than a blank page's ($(stat -c %s "$T/blank.png") B)"
  else
    bad "chromium made no screenshot: $(tail -c 400 "$T/chrome.log")"
  fi
fi

# bad inputs: one line, non-zero exit, nothing written
expect_err "missing model" "nope.safetensors" $BIN report "$T/nope.safetensors" --out "$T/x.html"
expect_err "no model" "expected one model file" $BIN report --out "$T/x.html"
printf 'index,group\n0,a\n0,b\n' > "$T/dup.csv"
expect_err "bad groups CSV" "dup.csv:" $R --groups "$T/dup.csv" --out "$T/x.html"
expect_err "groups CSV of another size" "groups.csv:" $BIN report "$T/m.safetensors" --limit 400 --groups "$T/groups.csv" --out "$T/x.html"
expect_err "missing groups CSV" "none.csv" $R --groups "$T/none.csv" --out "$T/x.html"
expect_err "unknown built-in groups" "zodiac" $R --groups builtin:zodiac --out "$T/x.html"
expect_err "--out in a missing folder" "does not exist" $R --out "$T/no/such/dir/r.html"
expect_err "--out is a folder" "is a folder" $R --out "$T"
expect_err "bad --method" "--method" $R --method magic --out "$T/x.html"
expect_err "bad --examples" "--examples" $R --examples 1000 --out "$T/x.html"
expect_err "bad --split" "--split" $R --split valid --out "$T/x.html"
expect_err "unknown option" "--colour" $R --colour red --out "$T/x.html"
expect_err "bad data" "no-such-data" $BIN report "$T/m.safetensors" --data "$T/no-such-data" --out "$T/x.html"
[ -e "$T/x.html" ] && bad "a failed report left x.html" || ok
finish
