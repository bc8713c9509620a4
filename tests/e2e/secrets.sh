#!/usr/bin/env bash
# secrets.sh — what the offpay CLI does with secrets and long texts, through
# the real binary: OFFPAY_PASSPHRASE wiped from /proc/PID/environ and the
# process non-dumpable with no core file; new passphrases of fewer than 8
# characters refused (file, environment, prompt — before the repeat);
# private files 0600 whatever the umask or the old file's mode; the issuer
# state sealed at a higher KDF cost than a wallet; and code texts limited
# per message type (a 2,000-serial revocation list read from an argument,
# a file and standard input, longer texts refused naming OFFPAY_ETOOBIG).
source "$(dirname "$0")/lib.sh"

mode() { stat -c %a "$1"; }
# u32 big-endian at byte offset $2 of file $1.
u32_at() { od -An -tu1 -j "$2" -N4 "$1" | awk '{print $1*16777216+$2*65536+$3*256+$4}'; }

# ---- new passphrases: at least 8 characters ---------------------------
setup_world 100.00
printf 'short\n' > short
expect 3 "too short: use at least 8 characters.*EPASSPHRASE_SHORT" -- \
  "$OFFPAY" wallet init --wallet w2 --root iss/root.pub --bundle iss/bundle.opb \
  --passphrase-file short
expect 3 "EPASSPHRASE_SHORT" -- \
  env OFFPAY_PASSPHRASE=1234567 "$OFFPAY" issuer init --dir iss2
expect 3 "EPASSPHRASE_SHORT" -- \
  "$OFFPAY" terminal init --terminal t2 --root iss/root.pub \
  --bundle iss/bundle.opb --currency EUR --passphrase-file short
[ ! -e w2 ] && [ ! -e iss2/issuer.sealed ] && [ ! -e t2/terminal.key ] &&
  ok "nothing created with a short passphrase" ||
  fail "a file was created with a short passphrase"
expect 0 "created|wallet" -- \
  env OFFPAY_PASSPHRASE=12345678 "$OFFPAY" wallet init --wallet w3 \
  --root iss/root.pub --bundle iss/bundle.opb
# The root key sealed under the issuer's own passphrase (no
# --root-passphrase-file, or one holding the same passphrase): warned,
# since offpayd is given that passphrase; a root passphrase of its own is not.
expect 0 "WARNING: the root key is sealed under the issuer's own passphrase \(no --root-passphrase-file was given\), which offpayd is given.*--root-passphrase-file a passphrase kept off the server" -- \
  "$OFFPAY" issuer init --dir iss3 --passphrase-file ip
cp ip ip-same
expect 0 "WARNING: the root key is sealed under the issuer's own passphrase \(--root-passphrase-file holds the same one\)" -- \
  "$OFFPAY" issuer init --dir iss4 --passphrase-file ip --root-passphrase-file ip-same
printf 'root passphrase kept off the server\n' > rootp
"$OFFPAY" issuer init --dir iss5 --passphrase-file ip --root-passphrase-file rootp >/dev/null 2>iss5.err
[ ! -s iss5.err ] && [ -e iss5/root.sealed ] \
  && ok "a root passphrase of its own: no warning" || fail "issuer init with its own root passphrase: $(cat iss5.err)"
# An existing file opens with its passphrase whatever its length rule.
expect 0 "EUR" -- "$OFFPAY" wallet balance --wallet w --passphrase-file wp

# A wallet's passphrase changed (since 0.13.0): sealed anew, the old one
# refused, the log (a code made before) and the counters carried on; a
# short new one refused with the file unchanged.
"$OFFPAY" wallet pay --wallet w --passphrase-file wp --currency EUR --amount 1.00 > pp_code1
"$OFFPAY" wallet log --wallet w --passphrase-file wp > pp_log1
printf 'a new wallet passphrase\n' > np
expect 0 "sealed under the new passphrase" -- \
  "$OFFPAY" wallet passphrase --wallet w --passphrase-file wp --new-passphrase-file np
expect 3 "EPASSPHRASE" -- "$OFFPAY" wallet balance --wallet w --passphrase-file wp
"$OFFPAY" wallet log --wallet w --passphrase-file np > pp_log2
cmp -s pp_log1 pp_log2 && ok "the log reads the same under the new passphrase" \
  || fail "log after the change: $(diff pp_log1 pp_log2)"
"$OFFPAY" wallet pay --wallet w --passphrase-file np --currency EUR --amount 1.00 > pp_code2
[ "$(wc -l < pp_log2)" -ge 1 ] && [ -s pp_code2 ] && ! cmp -s pp_code1 pp_code2 \
  && [ "$("$OFFPAY" wallet log --wallet w --passphrase-file np | wc -l)" = $(($(wc -l < pp_log2) + 1)) ] \
  && ok "a payment after the change: a new code, logged" || fail "pay after the change"
expect 3 "EPASSPHRASE_SHORT" -- \
  "$OFFPAY" wallet passphrase --wallet w --passphrase-file np --new-passphrase-file short
expect 0 "sealed under the new passphrase" -- \
  "$OFFPAY" wallet passphrase --wallet w --passphrase-file np --new-passphrase-file wp
expect 0 "EUR" -- "$OFFPAY" wallet balance --wallet w --passphrase-file wp
# no new passphrase and no terminal to ask it on (setsid): the option is
# named, not "use --passphrase-file or OFFPAY_PASSPHRASE", which give the
# old one (since 0.25.0)
expect 2 "wallet passphrase: give the new passphrase with --new-passphrase-file FILE \(no terminal to ask it on\)" -- \
  setsid "$OFFPAY" wallet passphrase --wallet w --passphrase-file wp
expect 0 "EUR" -- "$OFFPAY" wallet balance --wallet w --passphrase-file wp

# The prompt refuses a short new passphrase before asking to repeat it.
if command -v python3 >/dev/null; then
  out=$(python3 - "$OFFPAY" <<'EOF'
import os, pty, sys, termios, time
pid, fd = pty.fork()
if pid == 0:
    os.environ.pop("OFFPAY_PASSPHRASE", None)
    os.execv(sys.argv[1], [sys.argv[1], "wallet", "init", "--wallet", "wp_prompt",
              "--root", "iss/root.pub", "--bundle", "iss/bundle.opb"])
buf = b""
def read_until(marker, limit=5.0):
    global buf
    end = time.time() + limit
    while marker not in buf and time.time() < end:
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        buf += chunk
read_until(b"passphrase: ")
# Type only once echo is off: the prompt flushes earlier input (TCSAFLUSH).
end = time.time() + 5
while time.time() < end and termios.tcgetattr(fd)[3] & termios.ECHO:
    time.sleep(0.01)
os.write(fd, b"abc\r")
read_until(b"\x00never")  # read everything until the child exits
done, status = os.waitpid(pid, os.WNOHANG)
if done == 0:  # still waiting for input: the repeat was asked
    os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
sys.stdout.write(buf.decode(errors="replace"))
sys.stdout.write("\nexit=%d\n" % os.waitstatus_to_exitcode(status))
EOF
)
  if grep -q "EPASSPHRASE_SHORT" <<<"$out" && ! grep -q "Repeat it" <<<"$out" &&
     grep -q "exit=3" <<<"$out" && [ ! -e wp_prompt ]; then
    ok "prompt: short new passphrase refused before the repeat"
  else
    fail "prompt: short new passphrase"; printf '%s\n' "$out" | sed 's/^/    | /'
  fi
fi

# Ctrl-C at the passphrase prompt gives the terminal its echo back (the
# process ends by SIGINT, as it would without the prompt).
if command -v python3 >/dev/null; then
  out=$(python3 - "$OFFPAY" <<'EOF'
import os, pty, sys, termios, time
pid, fd = pty.fork()
if pid == 0:
    os.environ.pop("OFFPAY_PASSPHRASE", None)
    os.execv(sys.argv[1], [sys.argv[1], "wallet", "balance", "--wallet", "w"])
end = time.time() + 5
while time.time() < end and termios.tcgetattr(fd)[3] & termios.ECHO:
    time.sleep(0.01)
print("echo off at the prompt:", not termios.tcgetattr(fd)[3] & termios.ECHO)
os.write(fd, b"\x03")
_, status = os.waitpid(pid, 0)
print("echo after Ctrl-C:", bool(termios.tcgetattr(fd)[3] & termios.ECHO))
print("signal:", os.WTERMSIG(status) if os.WIFSIGNALED(status) else None)
EOF
)
  if grep -q "echo off at the prompt: True" <<<"$out" && grep -q "echo after Ctrl-C: True" <<<"$out" &&
     grep -q "signal: 2" <<<"$out"; then
    ok "Ctrl-C at the prompt: echo given back, ended by SIGINT"
  else
    fail "Ctrl-C at the prompt"; printf '%s\n' "$out" | sed 's/^/    | /'
  fi
fi

# ---- OFFPAY_PASSPHRASE is wiped; the process is non-dumpable -----------
# A command that blocks reading a code on standard input, started with the
# passphrase in its environment. As root, run it as nobody, so that the
# ownership of /proc/PID/environ shows dumpability (a non-dumpable
# process's /proc files belong to root) and root can still read it.
secret="env-secret-$RANDOM$RANDOM"
runas=()
if [ "$(id -u)" -eq 0 ] && command -v setpriv >/dev/null; then
  runas=(setpriv --reuid=65534 --regid=65534 --clear-groups)
  # nobody may be unable to reach the build tree: then run as root. The
  # probe goes through env as the real run does: setpriv itself may still
  # exec the binary with root's capabilities, env running as nobody not.
  "${runas[@]}" env "$OFFPAY" version >/dev/null 2>&1 || runas=()
fi
mkfifo blockfifo
( exec 3>blockfifo; sleep 30 ) &
holder=$!
# Allow core files as far as the hard limit does, so that the limit of 0
# seen below is offpay's own.
ulimit -S -c "$(ulimit -H -c)"
core_hard=$(ulimit -H -c)
"${runas[@]}" env OFFPAY_PASSPHRASE="$secret" "$OFFPAY" decode <blockfifo \
  >/dev/null 2>&1 &
pid=$!
# Wait until the process is the offpay binary (argv[0], after setpriv and
# env have exec'd), then give it time to start: a process that never wipes
# keeps the secret forever.
argv0() { head -z -n1 /proc/$pid/cmdline 2>/dev/null | tr -d '\0'; }
for _ in $(seq 600); do   # up to 30 s each, for a loaded machine
  [ "$(argv0)" = "$OFFPAY" ] && break
  sleep 0.05
done
for _ in $(seq 600); do
  grep -qa "$secret" /proc/$pid/environ 2>/dev/null || break
  sleep 0.05
done
if [ "$(argv0)" != "$OFFPAY" ]; then
  fail "the blocked offpay process is not running"
elif [ -r /proc/$pid/environ ] && grep -qa "$secret" /proc/$pid/environ; then
  fail "OFFPAY_PASSPHRASE still in /proc/$pid/environ"
elif [ -r /proc/$pid/environ ] &&
     tr '\0' '\n' </proc/$pid/environ | grep -q '^OFFPAY_PASSPHRASE='; then
  fail "OFFPAY_PASSPHRASE entry still in /proc/$pid/environ"
else
  ok "OFFPAY_PASSPHRASE wiped from /proc/PID/environ"
fi
if [ "${#runas[@]}" -gt 0 ] || [ "$(id -u)" -ne 0 ]; then
  [ "$(stat -c %u /proc/$pid/environ)" -eq 0 ] &&
    ok "process is non-dumpable (/proc/PID/environ owned by root)" ||
    fail "process is dumpable: /proc/$pid/environ owned by $(stat -c %u /proc/$pid/environ)"
fi
if [ "$core_hard" != 0 ]; then
  grep -qE '^Max core file size +0 +0 ' /proc/$pid/limits &&
    ok "core file size limit is 0" || fail "core dumps still allowed"
fi
kill "$holder" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
wait "$holder" 2>/dev/null || true
rm -f blockfifo

# ---- the issuer's files keep their owner when root rewrites them -------
# offpayd runs as its own user and reads issuer.sealed again on SIGHUP:
# `offpay issuer add-key` (or retire-key) run as root must leave the files
# that user's, or offpayd keeps signing with the old key. As root only: a
# copy of the issuer given to nobody (65534), a key added and retired as
# root; nobody can still open the issuer when it can run the binary.
if [ "$(id -u)" -eq 0 ]; then
  cp -a iss iss-svc
  chown -R 65534:65534 iss-svc
  expect 0 "signing key 2 added" -- \
    "$OFFPAY" issuer add-key --dir iss-svc --passphrase-file ip
  owners() { stat -c '%u:%g %a' iss-svc/issuer.sealed iss-svc/bundle.opb | tr '\n' ' '; }
  [ "$(owners)" = "65534:65534 600 65534:65534 644 " ] \
    && ok "add-key as root: issuer.sealed and bundle.opb still nobody's (0600, 0644)" \
    || fail "add-key as root: owners $(owners)"
  # a hard link planted at issuer.sealed.tmp by the directory's user, to
  # a file of root's: the write makes a new file, the target untouched
  # (opened as it stood, it was truncated, written and given to nobody)
  printf 'root keeps this\n' > victim; chmod 600 victim
  ln victim iss-svc/issuer.sealed.tmp
  expect 0 "retired" -- \
    "$OFFPAY" issuer retire-key 2 --dir iss-svc --passphrase-file ip
  [ "$(owners)" = "65534:65534 600 65534:65534 644 " ] \
    && ok "retire-key as root: still nobody's" || fail "retire-key as root: owners $(owners)"
  [ "$(cat victim)" = "root keeps this" ] && [ "$(stat -c '%u %h' victim)" = "0 1" ] \
    && ok "a hard link planted at issuer.sealed.tmp: its target untouched, still root's" \
    || fail "the planted link's target: '$(cat victim)' $(stat -c '%u %h' victim)"
  if [ "${#runas[@]}" -gt 0 ]; then
    chmod 711 .   # nobody may pass through the scenario's directory
    expect 0 "." -- "${runas[@]}" env OFFPAY_PASSPHRASE="$(cat ip)" \
      "$OFFPAY" issuer publish --dir "$PWD/iss-svc"
    chmod 700 .
  fi
fi

# ---- file modes: 0600 whatever the umask and the old file's mode --------
(umask 000 && "$OFFPAY" wallet init --wallet w4 --root iss/root.pub \
  --bundle iss/bundle.opb --passphrase-file wp >/dev/null)
[ "$(mode w4)" = 600 ] && ok "new wallet file 0600 under umask 000" ||
  fail "new wallet file mode $(mode w4) under umask 000"
chmod 644 w
(umask 000 && "$OFFPAY" issuer wallet-credential --dir iss --passphrase-file ip \
  --wallet-key "$("$OFFPAY" wallet key --wallet w --passphrase-file wp)" \
  --limit 5.00 --currency EUR --out w5.cred >/dev/null &&
  "$OFFPAY" wallet add-credential w5.cred --wallet w --passphrase-file wp >/dev/null)
[ "$(mode w)" = 600 ] && ok "a 0644 wallet file is 0600 after a save" ||
  fail "wallet file mode $(mode w) after a save"

# ---- KDF strength: the issuer's state costs more than a wallet ----------
ops_wallet=$(u32_at w 10)
ops_issuer=$(u32_at iss/issuer.sealed 10)
[ "$ops_issuer" -gt "$ops_wallet" ] &&
  ok "issuer state sealed at a higher Argon2id cost ($ops_issuer > $ops_wallet passes)" ||
  fail "issuer state passes $ops_issuer, wallet $ops_wallet"

# ---- text limits per message type ---------------------------------------
# A revocation list of N serials in text form (decode checks the format,
# not the signature, so a zero signature will do).
revlist_text() {
  python3 - "$1" <<'EOF'
import struct, sys
n = int(sys.argv[1])
b = bytes([1, 0x40]) + struct.pack(">HIIIH", 1, 2, 0, 1767225600, n)
b += b"".join(struct.pack(">Q", 1000 + 3 * i) for i in range(n)) + bytes(64)
A = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
out = []
for i in range(0, len(b) - 1, 2):
    v = b[i] * 256 + b[i + 1]
    out += [A[v % 45], A[v // 45 % 45], A[v // 2025]]
if len(b) % 2:
    out += [A[b[-1] % 45], A[b[-1] // 45]]
sys.stdout.write("OPRL:" + "".join(out))
EOF
}
if command -v python3 >/dev/null; then
  revlist_text 2000 > rl2000.txt
  expect 0 "2000 serial" -- env LC_ALL=C "$OFFPAY" decode \
    --code "$(cat rl2000.txt)"
  expect 0 "2000 serial" -- bash -c "'$OFFPAY' decode < rl2000.txt"
  expect 0 "2000 serial" -- bash -c "printf '%s\r\n' \"\$(cat rl2000.txt)\" | '$OFFPAY' decode"
  # The largest list there is: 65535 serials, 786548 characters.
  revlist_text 65535 > rlmax.txt
  [ "$(wc -c < rlmax.txt)" -eq 786548 ] && ok "max list is 786548 characters" ||
    fail "max list is $(wc -c < rlmax.txt) characters"
  expect 0 "65535 serial" -- bash -c "'$OFFPAY' decode < rlmax.txt"
  # Too long for an argument: from a file holding the text.
  expect 0 "2000 serial" -- "$OFFPAY" decode --file rl2000.txt
  expect 0 "65535 serial" -- "$OFFPAY" decode --file rlmax.txt
  { cat rlmax.txt; printf 000; } > rlover.txt
  expect 1 "too long.*ETOOBIG" -- "$OFFPAY" decode --file rlover.txt
  # One Base45 triple more is beyond any offpay code.
  expect 1 "too long: more than 786548 characters.*ETOOBIG" -- \
    bash -c "{ cat rlmax.txt; printf 000; } | '$OFFPAY' decode"
fi
# A payment text is at most 334 characters (a bound payment).
long_pay="OPPY:$(printf '0%.0s' $(seq 329))"
expect 1 "too long: 335 characters, at most 334.*ETOOBIG" -- \
  "$OFFPAY" decode --json --code "${long_pay}0"
expect 1 "too long: 335 characters, at most 334.*ETOOBIG" -- \
  bash -c "printf '%s\n' '${long_pay}0' | '$OFFPAY' decode"
expect 1 "too long: 335 characters, at most 334.*ETOOBIG" -- \
  "$OFFPAY" terminal accept --amount 1.00 --terminal shop --code "${long_pay}0"
# At the limit the text goes on to the decoder (and fails there).
expect 1 "EBASE45|ETRUNCATED|EPREFIX|ETYPE|EVERSION|EMALFORMED|ETRAILING" -- \
  "$OFFPAY" decode --json --code "$long_pay"
finish
