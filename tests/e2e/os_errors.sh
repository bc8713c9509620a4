#!/usr/bin/env bash
# os_errors.sh — what the offpay CLI says when the operating system refuses,
# under real conditions (no mocks): a missing parent directory, a directory
# given as a file, a file given as a directory, a missing image; and, on a
# small tmpfs this script mounts (root only), a read-only mount and a full
# disk. Each failure names its cause, its path and its error code
# (ENOENT, EISDIR, ENOTDIR, EROFS, ENOSPC), writes say "nothing was
# changed" and change nothing; the read-only commands (wallet balance, log,
# key; terminal journal, key; decode; issuer show) work on read-only media
# and on a full disk, and create no file there (not even a lock file).
# Where mounting is impossible the mount cases are skipped, and said so.
source "$(dirname "$0")/lib.sh"

W=(--wallet w --passphrase-file wp)
setup_world 100.00

# ---- paths that cannot be followed ------------------------------------
expect 3 "no such file or directory while creating nodir/w \(ENOENT\)" -- \
  "$OFFPAY" wallet init --wallet nodir/w --root iss/root.pub \
  --bundle iss/bundle.opb --passphrase-file wp
expect 3 "no such file or directory while creating nodir/shop \(ENOENT\)" -- \
  "$OFFPAY" terminal init --terminal nodir/shop --root iss/root.pub \
  --bundle iss/bundle.opb --currency EUR --passphrase-file tp
expect 3 "no such file or directory while opening nodir/w \(ENOENT\)" -- \
  "$OFFPAY" wallet balance --wallet nodir/w --passphrase-file wp
expect 3 "is a directory while creating iss \(EISDIR\)" -- \
  "$OFFPAY" wallet init --wallet iss --root iss/root.pub \
  --bundle iss/bundle.opb --passphrase-file wp
expect 3 "is a directory while opening iss \(EISDIR\)" -- \
  "$OFFPAY" wallet balance --wallet iss --passphrase-file wp
expect 3 "not a directory while opening wp/w \(ENOTDIR\)" -- \
  "$OFFPAY" wallet balance --wallet wp/w --passphrase-file wp
# (a file given as the terminal's directory is a usage error: say which)
expect 2 "--terminal wp: not a directory: give the terminal's directory.*\(ENOTDIR\)" -- \
  "$OFFPAY" terminal journal --terminal wp
expect 3 "no such file or directory while reading missing.png \(ENOENT\)" -- \
  "$OFFPAY" decode --image missing.png
expect 3 "is a directory while reading iss \(EISDIR\)" -- \
  "$OFFPAY" decode --image iss
expect 3 "no such file or directory while reading nodir/code.txt \(ENOENT\)" -- \
  "$OFFPAY" decode --file nodir/code.txt
# A missing wallet in an existing directory is still "not found".
expect 3 "absent: not found \(ENOTFOUND\)" -- \
  "$OFFPAY" wallet balance --wallet absent --passphrase-file wp

# ---- a small file system of our own ------------------------------------
mnt="$work/mnt"
mkdir "$mnt"
mounted=0
if [ "$(id -u)" -ne 0 ]; then
  skip_why="not root"
elif ! mount -t tmpfs -o size=512k tmpfs "$mnt" 2>/dev/null; then
  skip_why="mount -t tmpfs failed (no CAP_SYS_ADMIN in this container?)"
else
  mounted=1
  trap 'umount -l "$mnt" 2>/dev/null; rm -rf "$work"' EXIT
fi

if [ "$mounted" -eq 0 ]; then
  echo "SKIP read-only mount and full disk cases: $skip_why"
  finish
  exit $?
fi

# The world again, inside the mount; one payment accepted, one code made.
cd "$mnt"
cp "$work"/ip "$work"/wp "$work"/tp .
setup_world 100.00
code1=$("$OFFPAY" wallet pay "${W[@]}" --amount 1.00 --currency EUR 2>/dev/null)
code2=$("$OFFPAY" wallet pay "${W[@]}" --amount 2.00 --currency EUR 2>/dev/null)
expect 0 "accepted: 1.00 EUR" -- \
  "$OFFPAY" terminal accept --terminal shop --code "$code1" --amount 1.00

listing() { find . -printf '%p %s %T@\n' | sort; }

# ---- read-only mount ----------------------------------------------------
# No lock files: the readers must not need to create them.
rm -f w.lock shop/terminal.lock iss/issuer.lock
before=$(listing)
mount -o remount,ro "$mnt"
expect 0 "limit +100.00 EUR" -- "$OFFPAY" wallet balance "${W[@]}"
expect 0 "2.00 EUR" -- "$OFFPAY" wallet log "${W[@]}"
expect 0 "^[0-9a-f]{64}$" -- "$OFFPAY" wallet key "${W[@]}"
expect 0 "1 payment\(s\), total 1.00 EUR" -- \
  "$OFFPAY" terminal journal --terminal shop
expect 0 '"charged_minor":100' -- \
  "$OFFPAY" terminal journal --terminal shop --json
expect 0 "^[0-9a-f]{64}$" -- \
  "$OFFPAY" terminal key --terminal shop --passphrase-file tp
expect 0 "trust bundle sequence 1" -- "$OFFPAY" issuer show --dir iss
expect 0 "authorizes +up to 2.00 EUR" -- "$OFFPAY" decode --code "$code2"
# status reads, and says that accept could not write here
expect 0 "state +read-only: not accepting payments \(EROFS" -- "$OFFPAY" terminal status --terminal shop
expect 0 "exported 1 payment" -- "$OFFPAY" terminal export --terminal shop "$work/ro-export"
# Writers name the read-only file system, and the path.
expect 3 "read-only file system while opening w \(EROFS\)" -- \
  "$OFFPAY" wallet pay "${W[@]}" --amount 1.00 --currency EUR
expect 3 "read-only file system while opening shop \(EROFS\)" -- \
  "$OFFPAY" terminal accept --terminal shop --code "$code2" --amount 2.00
expect 3 "NOT ACCEPTED: the terminal could not be opened" -- \
  "$OFFPAY" terminal accept --terminal shop --code "$code2" --amount 2.00
mount -o remount,rw "$mnt"
[ "$before" = "$(listing)" ] &&
  ok "read-only commands created, changed and removed nothing" ||
  fail "files changed on the read-only mount: $(diff <(echo "$before") <(listing))"

# ---- full disk ----------------------------------------------------------
# fill [KIB]: fills the file system, leaving KIB free (default none).
fill() {
  rm -f pad filler
  [ "${1:-0}" -gt 0 ] && dd if=/dev/zero of=pad bs=1k count="$1" 2>/dev/null
  dd if=/dev/zero of=filler bs=4k 2>/dev/null || true
  rm -f pad
}
fill
sum_w=$(sha256sum w)
sum_db=$(sha256sum shop/terminal.db)
expect 0 "limit +100.00 EUR" -- "$OFFPAY" wallet balance "${W[@]}"
expect 0 "2.00 EUR" -- "$OFFPAY" wallet log "${W[@]}"
expect 0 "1 payment\(s\), total 1.00 EUR" -- \
  "$OFFPAY" terminal journal --terminal shop
# A code is one record appended to the wallet's log: the slack of the log's
# last block may still hold a few. Pay until the disk refuses; that refusal
# names the cause, and no code was printed for it.
made=0
for i in $(seq 1 40); do
  set +e
  out=$("$OFFPAY" wallet pay "${W[@]}" --amount 0.01 --currency EUR 2>&1)
  st=$?
  set -e
  [ "$st" -ne 0 ] && break
  made=$((made + 1))
done
if [ "$st" -eq 3 ] && grep -qE "cannot make a code: disk full while saving w.*: nothing was changed \(ENOSPC\)" <<<"$out" &&
   ! grep -q "OPPY:" <<<"$out"; then
  ok "full disk: code refused after $made, ENOSPC named, no code shown"
else
  fail "full disk: after $made codes, status $st: $out"
fi
[ "$sum_w" = "$(sha256sum w)" ] && ok "wallet file unchanged on a full disk" ||
  fail "wallet file changed on a full disk"
expect 3 "disk full while opening shop \(ENOSPC\)" -- \
  "$OFFPAY" terminal accept --terminal shop --code "$code2" --amount 2.00
expect 0 "state +DISK NEARLY FULL: may refuse payments: [0-9]+ KiB free \(ENOSPC\)$" -- \
  "$OFFPAY" terminal status --terminal shop
[ "$("$OFFPAY" terminal status --terminal shop --json | jq -c '[.state, .accepting, .message]')" \
    = '["ENOSPC",false,"disk nearly full: payments may be refused"]' ] \
  && ok "status --json: ENOSPC, not accepting, 'may be refused'" || fail "status --json near a full disk"
# the free space is shown, and warned of below 16 MiB (since 0.12.0)
expect 0 "WARNING: [0-9]+ KiB free where the journal is" -- \
  "$OFFPAY" terminal status --terminal shop
# Room to open the journal (its shared-memory index) but not to commit: the
# failure is at the COMMIT, and is named, and the payment is not recorded.
fill 40
expect 3 "NOT ACCEPTED: disk full while saving shop: nothing was changed \(ENOSPC\)" -- \
  "$OFFPAY" terminal accept --terminal shop --code "$code2" --amount 2.00
expect 0 "1 payment\(s\), total 1.00 EUR" -- \
  "$OFFPAY" terminal journal --terminal shop
rm -f filler
[ "$sum_db" = "$(sha256sum shop/terminal.db)" ] &&
  ok "journal database unchanged on a full disk" ||
  fail "journal database changed on a full disk"
expect 0 "accepted: 2.00 EUR" -- \
  "$OFFPAY" terminal accept --terminal shop --code "$code2" --amount 2.00

# ---- a payment only in the write-ahead log, on read-only media ----------
# Another connection keeps the database open, so the accept's commit stays
# in terminal.db-wal (no checkpoint at close); that connection is then
# killed, as a crash would. A reader on read-only media must still see the
# payment: it is committed.
if command -v python3 >/dev/null; then
  code3=$("$OFFPAY" wallet pay "${W[@]}" --amount 3.00 --currency EUR 2>/dev/null)
  python3 -c 'import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1]); c.execute("select count(*) from journal").fetchall()
print("ready", flush=True); time.sleep(60)' shop/terminal.db > holder.out &
  holder=$!
  for _ in $(seq 50); do grep -q ready holder.out 2>/dev/null && break; sleep 0.1; done
  expect 0 "accepted: 3.00 EUR" -- \
    "$OFFPAY" terminal accept --terminal shop --code "$code3" --amount 3.00
  kill -9 "$holder"; wait "$holder" 2>/dev/null || true
  rm -f holder.out
  [ -s shop/terminal.db-wal ] && ok "the payment is in the write-ahead log only" ||
    fail "no write-ahead log left"
  mount -o remount,ro "$mnt"
  expect 0 "3 payment\(s\), total 6.00 EUR" -- \
    "$OFFPAY" terminal journal --terminal shop
  mount -o remount,rw "$mnt"
else
  echo "SKIP write-ahead log case: no python3"
fi

cd "$work"
umount "$mnt" && ok "unmounted" || fail "unmount"
trap 'rm -rf "$work"' EXIT
finish
