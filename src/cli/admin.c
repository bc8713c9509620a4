/*
 * admin.c — `offpay admin`: what an operator runs against the settlement
 * ledger itself (docs/settlement.md), with offpayd running or not:
 * `audit` recomputes every balance and checks conservation, `release`
 * returns the escrows that are due, `cases` lists the cases settlement
 * opened and `evidence` exports one as a self-contained file
 * (docs/settlement.md §9), `transfers` lists an account's history,
 * `refund` gives back part of a payment (§13), `merchants` lists the
 * merchants, `statement` gives a merchant's statement and `accounts` the
 * payers' accounts; `copy-ledger` moves a SQLite ledger to PostgreSQL.
 * The ledger is a SQLite
 * file or a PostgreSQL URL, as for offpayd --db.
 */
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <pwd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/unixtime.h"
#include "offpay/settle.h"
#include "offpay/verify.h"
#include "settle/copy.h"
#include "settle/render.h"
#include "terminal/upload_int.h"

/* A ledger's location as printed: a SQLite path, or a PostgreSQL URL
 * without its password (offpay_ledger_redact). */
#define LEDGER_SHOWN_MAX (4096 + 64)

static const char *ledger_shown(const char *db, char shown[LEDGER_SHOWN_MAX])
{
    (void)offpay_ledger_redact(db, shown, LEDGER_SHOWN_MAX, NULL);
    return shown;
}

/* A PostgreSQL password in option opt's URL: warned of once, not refused
 * (deployments that give it so keep working). */
static void password_warning(const char *opt, const char *url)
{
    char shown[LEDGER_SHOWN_MAX];
    int  hidden = 0;

    (void)offpay_ledger_redact(url, shown, sizeof shown, &hidden);
    if (hidden)
        fprintf(stderr,
                "offpay: WARNING: %s holds the PostgreSQL password, which "
                "every user of this machine can read in a command line (ps, "
                "/proc/PID/cmdline): give it in a passfile instead "
                "(PGPASSFILE=FILE in the environment, or passfile=FILE in "
                "the URL's query; docs/operations.md §2)\n",
                opt);
}

static const char help[] =
    "Usage: offpay admin COMMAND --db LEDGER [--json]\n"
    "       offpay admin COMMAND --shards FILE [...]   (a sharded ledger)\n"
    "       offpay admin cases --db LEDGER [--serial N] [--kind KIND]\n"
    "                    [--since UNIXTIME] [--open | --closed] [--after ID]\n"
    "                    [--limit N] [--json]\n"
    "       offpay admin cases --server URL --token-file FILE [the same\n"
    "                    filters] [--json]\n"
    "       offpay admin case CASE --db LEDGER [--note TEXT | --close TEXT\n"
    "                    | --reopen TEXT] [--by NAME] [--json]\n"
    "       offpay admin case CASE --server URL --token-file FILE [the\n"
    "                    same options]\n"
    "       offpay admin evidence CASE --db LEDGER --bundle FILE --out FILE\n"
    "                    [--force] [--by NAME]\n"
    "       offpay admin evidence CASE --server URL --token-file FILE\n"
    "                    --out FILE [--force]\n"
    "       offpay admin enroll-code --db LEDGER --currency CODE\n"
    "                    [--expires UNIXTIME] [--ref TEXT] [--json]\n"
    "       offpay admin enroll-code --db LEDGER --account N\n"
    "                    [--expires UNIXTIME] [--json]\n"
    "       offpay admin revoke-wallet --db LEDGER --account N [--json]\n"
    "       offpay admin revoke-credential --db LEDGER --serial N\n"
    "                    [--reason TEXT] [--json]\n"
    "       offpay admin revoke-terminal --db LEDGER --terminal-id T "
    "[--chain]\n"
    "                    [--reason TEXT] [--json]\n"
    "       offpay admin label-terminal --db LEDGER --terminal-id T\n"
    "                    [--label TEXT] [--json]\n"
    "       offpay admin close-merchant --db LEDGER --merchant N [--json]\n"
    "       offpay admin transfers --db LEDGER --account N [--from UNIXTIME]\n"
    "                    [--to UNIXTIME] [--after ID] [--limit N] [--json]\n"
    "       offpay admin statement --db LEDGER --merchant N [--from UNIXTIME]\n"
    "                    [--to UNIXTIME] [--terminal N] [--after P]\n"
    "                    [--json | --csv]\n"
    "       offpay admin report --db LEDGER [--from UNIXTIME] [--to UNIXTIME]\n"
    "                    [--by-day [--tz ZONE]] [--json | --csv]\n"
    "       offpay admin guarantee --db LEDGER --currency CODE\n"
    "                    [--from UNIXTIME] [--to UNIXTIME] [--json]\n"
    "       offpay admin balances --db LEDGER [--from UNIXTIME]\n"
    "                    [--to UNIXTIME] [--json]\n"
    "       offpay admin digest --db LEDGER [--to UNIXTIME | --upto ID]\n"
    "                    [--expect HEX] [--expect-actions HEX] [--json]\n"
    "       offpay admin refund --db LEDGER --presentment N --amount AMOUNT\n"
    "                    [--ref TEXT] [--key KEY] [--funded] [--json]\n"
    "       offpay admin deposit --db LEDGER --account N --amount AMOUNT\n"
    "                    [--ref TEXT] [--key KEY] [--json]\n"
    "       offpay admin withdraw --db LEDGER --account N --amount AMOUNT\n"
    "                    [--ref TEXT] [--key KEY] [--take-held] [--json]\n"
    "       offpay admin merchants --db LEDGER [--after ID] [--limit N]\n"
    "                    [--json]\n"
    "       offpay admin accounts --db LEDGER [--ref TEXT] [--after ID]\n"
    "                    [--limit N] [--json]\n"
    "       offpay admin lists --server URL --root ROOT --out-dir DIR\n"
    "       offpay admin backup --db LEDGER --out FILE [--json]\n"
    "       offpay admin copy-ledger --db FILE --into URL [--json]\n"
    "       offpay admin unseal --db FILE (--into URL | --force) [--json]\n"
    "       offpay admin skip-ids --db LEDGER [--by N] [--json]\n"
    "       offpay admin void-codes --db LEDGER --by NAME [--json]\n"
    "       offpay admin marks --db LEDGER [--drop] [--json]\n"
    "       offpay admin terminals --db LEDGER [--merchant N] [--stale HOURS]\n"
    "                 [--json]\n"
    "       offpay admin keys --db LEDGER [--json]\n"
    "       offpay admin actions --db LEDGER [--by NAME] [--action ACTION]\n"
    "                    [--subject N] [--from UNIXTIME] [--to UNIXTIME]\n"
    "                    [--after AT.SHARD.ID] [--limit N] [--json]\n"
    "\n"
    "The operator's commands on the settlement ledger (docs/settlement.md).\n"
    "LEDGER is offpayd's --db: a SQLite file, or a PostgreSQL URL such as\n"
    "postgresql://offpay@127.0.0.1:5432/ledger. Every command but\n"
    "copy-ledger and unseal is safe while offpayd runs on the same\n"
    "ledger. A password in the URL is warned of (every local user can\n"
    "read a command line) and never printed: give it in a passfile\n"
    "(PGPASSFILE, or passfile=FILE in the URL's query;\n"
    "docs/operations.md §2).\n"
    "\n"
    "Commands:\n"
    "  audit     recompute every balance from the transfers and check\n"
    "            conservation, escrows, settlements and releases; exit 0\n"
    "            when everything holds, 1 (with the counts) when not; per\n"
    "            currency, what the guarantee still owes merchants (claims\n"
    "            paid once it is funded), and where the money inside is\n"
    "            now: wallets, escrows, merchants, guarantee\n"
    "  release [--now] [--vouch]  return every escrow whose credential\n"
    "            expired more than the upload grace ago to its wallet\n"
    "            account, now\n"
    "            (offpayd also does it on its own schedule); each escrow\n"
    "            once; then pay the claims on the guarantee it can;\n"
    "            say what came back, per currency, and the claims paid.\n"
    "            --now changes nothing: release always runs now; it\n"
    "            may be given to say so. --vouch first vouches for this\n"
    "            machine's clock: transfers dated ahead of it by a clock\n"
    "            that ran ahead before no longer refuse bookings\n"
    "            (ECLOCK_BEHIND), which are held to this time instead;\n"
    "            only when this clock is right (docs/operations.md,\n"
    "            \"offpayd's clock jumped\")\n"
    "  cases     list the cases settlement opened (duplicate,\n"
    "            double_spend, overspend, receipt_mismatch,\n"
    "            charge_mismatch: no evidence file), oldest first, each\n"
    "            open or closed (when, and its resolution)\n"
    "  case      case CASE and every step taken on it, oldest first:\n"
    "            notes, closings (their resolution), reopenings. With\n"
    "            --note, --close or --reopen that step is taken first\n"
    "            and kept for good, with who took it (--by); the same\n"
    "            step by the same name within 10 minutes of it is taken\n"
    "            as sent twice (nothing added). Also POST\n"
    "            /v1/admin/cases/N/notes, /close, /reopen\n"
    "            (docs/operations.md, \"Working a case\")\n"
    "  evidence  write case CASE as one self-contained evidence file\n"
    "            (docs/settlement.md §9) that 'offpay verify-evidence'\n"
    "            checks offline against the root key\n"
    "  enroll-code    a one-time enrollment code for a wallet account in\n"
    "            --currency (offpay wallet enroll --code): single use,\n"
    "            valid 7 days or until --expires; the ledger keeps only\n"
    "            its hash (also POST /v1/admin/enrollments). With\n"
    "            --account N (a lost wallet's, revoked): the new wallet\n"
    "            of its owner takes that account, its money and the\n"
    "            escrow coming back (also POST /v1/admin/wallets/N/\n"
    "            enrollment)\n"
    "  revoke-wallet  a lost wallet (its enrolled --account): the wallet and\n"
    "            every credential of it that can still be paid (not\n"
    "            released, or released within the late window) are\n"
    "            revoked; its escrow returns to the account after the\n"
    "            upload grace, minus what settles meanwhile (also POST\n"
    "            /v1/admin/wallets/N/revoke); again, it says when it was\n"
    "            revoked and changes nothing\n"
    "  credential  one wallet credential by its --serial (also GET\n"
    "            /v1/admin/credentials/N; --json is that answer): its\n"
    "            account, limit, term and state, where its escrow's money\n"
    "            went (paid to merchants, released, what it holds), and\n"
    "            the guarantee's loss on it (covered, claims paid and\n"
    "            owed, refunds back to the guarantee, net loss)\n"
    "  revoke-credential  one wallet credential by its --serial (a lost\n"
    "            wallet that never enrolled: each of its serials; also POST\n"
    "            /v1/admin/credentials/N/revoke): terminals refuse its codes\n"
    "            once they have taken the next revocation list; its escrow\n"
    "            returns to the account at its expiry plus offpayd's upload\n"
    "            grace; again, it says when it was revoked, changes nothing\n"
    "  close-merchant  a merchant leaving, by its --merchant id (also\n"
    "            POST /v1/admin/merchants/M/close): no terminal is\n"
    "            registered for it any more (EMERCHANT_CLOSED) and each of\n"
    "            its active terminals is revoked ('merchant closed'); what\n"
    "            they accepted before is paid when uploaded, into its\n"
    "            account, which stays for its payouts and refunds; again,\n"
    "            it says when it was closed and changes nothing\n"
    "  label-terminal  where terminal T stands, for the operator: --label\n"
    "            TEXT (at most 64 bytes, one line; without it the label is\n"
    "            cleared), shown by 'admin terminals' and the dashboard and\n"
    "            carried to the terminal a rotation makes (also POST\n"
    "            /v1/admin/terminals/T/label, or the registration's\n"
    "            \"label\")\n"
    "  revoke-terminal  a lost or stolen terminal by its --terminal-id\n"
    "            ('admin terminals' lists them; also POST\n"
    "            /v1/admin/terminals/T/revoke): what it accepted before now\n"
    "            is paid when uploaded, what it uploads as accepted after is\n"
    "            refused (ETERMINAL_REVOKED); the ledger keeps --reason with\n"
    "            the revocation ('admin terminals' shows it); again, it\n"
    "            changes nothing (the first time and reason stay).\n"
    "            It warns when T's last sync reported payments not uploaded\n"
    "            or not decided yet (a terminal at hand is better retired\n"
    "            with 'offpay terminal decommission', which uploads first).\n"
    "            It names the terminals T was rotated to (a stolen terminal\n"
    "            rotated to its thief's key lives on there): --chain\n"
    "            revokes them too; without it, one still active is a\n"
    "            WARNING with the command that revokes it, and exit 1\n"
    "  transfers an account's history: its balance (a wallet account's\n"
    "            with the escrow still held and when it is back, and until\n"
    "            when late payments may be taken from it; an escrow's\n"
    "            credential), then each transfer\n"
    "            into (+) or out of (-) --account, oldest first, with the\n"
    "            account on the other side, the presentment or case it\n"
    "            settles (a refund: its payment's case), the serial of the\n"
    "            credential it concerns, its reference and who booked it\n"
    "            (an operator's name, 'offpayd release job'; none for a\n"
    "            payment's upload); --limit per\n"
    "            page (default 100), the next from --after the last id\n"
    "            shown (also GET\n"
    "            /v1/admin/accounts/N/transfers); only those whose own time\n"
    "            is in [--from, --to] (both included; default: all), still\n"
    "            by id: a month's, --from its first second, --to its last,\n"
    "            with the period's opening balance, sums by kind and\n"
    "            closing balance, whatever the page (--json \"period\");\n"
    "            a period that may still change says NOT FINAL and from\n"
    "            when it is final (--to + 61 s; --json \"final\")\n"
    "  statement the merchant statement of --merchant N (also GET\n"
    "            /v1/admin/merchants/N/statement, the same figures; its\n"
    "            --json is that answer): each payment uploaded in [--from,\n"
    "            --to] (both included; default: until now), with its\n"
    "            upload and acceptance times, what was charged, paid,\n"
    "            covered by the guarantee, and refunded, paid later or\n"
    "            still owed by the guarantee to date (these three move on\n"
    "            after a period is final); their totals; the payments\n"
    "            refused because their terminal was revoked when it took\n"
    "            them, or their credential is not one the ledger issued\n"
    "            (paid nothing: 'refused: ...', each listed); and\n"
    "            the balance now; then the account's movements in the\n"
    "            period by each transfer's own time: the opening balance,\n"
    "            the sums by kind, each transfer but payments, the closing\n"
    "            balance. At most 10000 payments are listed (the totals\n"
    "            cover all): the next page from --after the last\n"
    "            presentment, with the same --to. At month end: --from the\n"
    "            month's first second, --to its last (docs/operations.md);\n"
    "            until 61 s after --to (the default --to is now) it says\n"
    "            NOT FINAL, from when it is final, and marks the closing\n"
    "            balance (--json \"final\": false)\n"
    "  report    the settlement report of [--from, --to] (both included;\n"
    "            default: until now), for reconciling with the bank: for\n"
    "            each merchant, its payments uploaded in the period\n"
    "            (refused ones among them, a revoked terminal's counted\n"
    "            too; charged, paid, covered by the guarantee, late; owed by\n"
    "            the guarantee, paid later and refunded to date, which\n"
    "            move on after the period is final: the period's own\n"
    "            refunds are its account's) and its account's opening\n"
    "            balance, movements by kind (payouts are its withdrawals)\n"
    "            and closing balance, as its statement gives them; then\n"
    "            each currency's totals; whether the period is final\n"
    "            (also GET /v1/admin/report; --json is that answer with\n"
    "            every merchant; --csv a table of the same figures, a row\n"
    "            per merchant). --by-day: one report per UTC day (--tz\n"
    "            ZONE: per day of that zone)\n"
    "  balances  the whole ledger's balances by account kind (world,\n"
    "            wallet, escrow, merchant, guarantee) per currency before\n"
    "            --from and at the end of --to (both included; default:\n"
    "            from the first transfer until now; --to T alone: the\n"
    "            balance sheet at T), what the period brought in and took\n"
    "            out of each kind, and its movements by transfer kind with\n"
    "            their counts and sums: the deposits and withdrawals are\n"
    "            the money that came in from outside and went out. Each\n"
    "            transfer by its own time; reads every transfer until --to\n"
    "            (also GET /v1/admin/balances; --json is that answer)\n"
    "  digest    a digest (BLAKE2b-256, hex) of every transfer dated until\n"
    "            --to (the last second of a period), or up to id --upto\n"
    "            (default: the last transfer mark, which offpayd's\n"
    "            marking job moves every 10 minutes), each shard's, with\n"
    "            how many transfers it covers and the newest one's time.\n"
    "            Keep it at a period's close: read again later, the same\n"
    "            digest proves no transfer it covers was changed, removed,\n"
    "            added or booked since. --expect HEX: exit 0 when it is\n"
    "            the same, 1 when not (an unsharded ledger; also GET\n"
    "            /v1/admin/digest; --json is that answer). Beside it, the\n"
    "            digest of what operators did dated until --to (all of\n"
    "            it without): keep both; --expect-actions HEX compares\n"
    "            that one\n"
    "  guarantee the issuer's guarantee of --currency over [--from, --to]\n"
    "            (both included; default: until now), for the one who\n"
    "            answers for it (also GET /v1/admin/guarantee; --json is\n"
    "            that answer): its opening balance, what it paid\n"
    "            merchants at settlement (covered) and later (claims paid),\n"
    "            the refunds of covered payments back, deposits and\n"
    "            withdrawals, each transfer, the closing balance, and what\n"
    "            left it for merchants less what came back, and what it\n"
    "            owed at --to; then, now, what it still owes: each open\n"
    "            claim (the payment, its merchant, credential and case,\n"
    "            since when), and the loss to date on each credential named\n"
    "            by the period or an open claim (covered + claims paid +\n"
    "            owed - refunds back; 'admin credential' has the rest). NOT\n"
    "            FINAL until 61 s after --to, as a statement\n"
    "  refund    the merchant gives back --amount of what presentment N\n"
    "            was paid: out of the merchant's account, back to the\n"
    "            guarantee as far as it covered the payment, the rest to\n"
    "            the payer's wallet account; in parts, at most what was\n"
    "            paid in all (also POST /v1/admin/presentments/N/refund;\n"
    "            docs/settlement.md §13). The merchant's account must hold\n"
    "            it, unless --funded\n"
    "  deposit   money from outside into wallet, merchant or guarantee\n"
    "            account N (--amount; also POST /v1/admin/accounts/N/\n"
    "            deposit); into a guarantee it then pays its open claims\n"
    "  withdraw  money out of account N to the outside (a payout; also\n"
    "            POST /v1/admin/accounts/N/withdraw). From a wallet\n"
    "            account it takes nothing of what is held for late\n"
    "            payments of its released credentials (refused, the\n"
    "            part held and until when said) unless --take-held\n"
    "  merchants the merchants, oldest first: id, currency, account,\n"
    "            its balance (on a sharded ledger summed over the shards),\n"
    "            terminals (and how many are not revoked), name; a\n"
    "            merchant's id is what its statement and refunds name\n"
    "            (also GET /v1/admin/merchants)\n"
    "  accounts  the payers' accounts in id order, or with --ref those\n"
    "            opened with exactly that reference (of the account, or\n"
    "            of the enrollment code): id, balance, currency,\n"
    "            credentials issued (and how many are active: neither\n"
    "            revoked nor released), the escrow they still hold and\n"
    "            when it is back (money to come, whatever the balance),\n"
    "            until when late payments may still be taken from it\n"
    "            (close it after that), what of the balance is held for\n"
    "            them and until when (held H until T: no credential\n"
    "            from it until then; a deposit funds one at once),\n"
    "            when its wallet was reported LOST, reference (also GET\n"
    "            /v1/admin/accounts)\n"
    "  lists     offpayd's trust bundle and revocation list, checked under\n"
    "            the root key (--root: hex, or root.pub), written to\n"
    "            DIR/bundle.opb and DIR/revlist.opb for air-gapped\n"
    "            terminals (terminal sync --bundle --revlist). With\n"
    "            offpayd, take the lists from it: the issuer directory's\n"
    "            revlist.opb lacks the ledger's revocations (lost wallets,\n"
    "            double spends). DIR is made if missing; the two files are\n"
    "            replaced each time (mode 0644: they are public and signed)\n"
    "  backup    a consistent copy of a SQLite ledger, taken while offpayd\n"
    "            runs, into the new file --out FILE, then its audit; exit\n"
    "            0 only when the copy is written and its audit passed. (A\n"
    "            plain copy of the file misses what is still in its\n"
    "            write-ahead log.) docs/operations.md says what a restore\n"
    "            from a backup loses\n"
    "  copy-ledger  moves a SQLite ledger (--db FILE) to PostgreSQL (--into\n"
    "            URL: a database without the ledger's schema, which it is\n"
    "            given, or an empty ledger; one with rows only when they\n"
    "            are this file's copy already, which is compared and the\n"
    "            file sealed, else refused EEXISTS): every table's rows\n"
    "            with their ids, read in one transaction of the file and\n"
    "            written in one PostgreSQL transaction, the ids'\n"
    "            sequences set to go on after them; then each table's\n"
    "            row count and a digest of its rows, the next ids and every\n"
    "            figure of the audit compared on both sides: exit 0 only\n"
    "            when they are the same and the audit passed, else 1 with\n"
    "            the difference and nothing committed. Then the file is\n"
    "            sealed: every write to it refused from then on\n"
    "            (ELEDGER_SEALED), offpayd does not start on it, reads and\n"
    "            the audit go on. Stop offpayd first: a file written while\n"
    "            it is copied is not sealed and nothing is committed (exit\n"
    "            1); then start offpayd with --db URL (docs/operations.md,\n"
    "            \"Moving from SQLite to PostgreSQL\"). Both at this\n"
    "            offpay's schema version. Not into a sharded ledger\n"
    "            (--shards)\n"
    "  unseal    takes copy-ledger's seal off a SQLite ledger, so that\n"
    "            offpayd writes to it again: the way back while nothing\n"
    "            has settled on the ledger it was copied into. With --into\n"
    "            URL, only when that ledger is still the copy (its rows,\n"
    "            next ids and audit the file's; else exit 1 and the seal\n"
    "            stays; a URL of another database than the seal names is\n"
    "            said so, naming it); with --force whatever became of it\n"
    "            (what was\n"
    "            settled there is not in the file). An offpayd left\n"
    "            running on the file writes at once. A file not sealed is\n"
    "            left as it is (exit 0)\n"
    "  terminals every terminal, live ones first: id, merchant, since,\n"
    "            active or REVOKED (when, and the reason kept), the issuer\n"
    "            key that signed its credential (key K; 'admin keys'),\n"
    "            payments uploaded, last upload, the merchant's name, and\n"
    "            what its last sync reported (when, its own clock then, how\n"
    "            many payments it held not uploaded or not decided and\n"
    "            their money, whether it accepted payments or what it\n"
    "            refused them with, when it last took offpayd's lists);\n"
    "            --merchant N: of merchant N only; --stale HOURS: only the\n"
    "            live ones that want a look (never reported and registered\n"
    "            over HOURS ago, silent over HOURS, refusing payments,\n"
    "            lists over HOURS old, or a clock over 120 s off\n"
    "            offpayd's), each with why ('needs a look: ...';\n"
    "            --json: attention). A lost or stolen\n"
    "            terminal's id, to revoke it (revoke-terminal;\n"
    "            docs/operations.md). Over HTTP, with each one's key and\n"
    "            state, a page at a time: GET\n"
    "            /v1/admin/terminals?merchant=N\n"
    "  keys      before retiring an issuer key (offpay issuer retire-key;\n"
    "            docs/operations.md §6): each key that signed the credential\n"
    "            of a live terminal (not revoked, not expired) or a wallet\n"
    "            credential not released yet, read from the credentials'\n"
    "            bytes: how many terminals and their ids (the first 100),\n"
    "            how many credentials (and how many not expired), the last\n"
    "            one's expiry and when its escrow is released (expiry plus\n"
    "            the 14-day upload grace), and what retiring it now would\n"
    "            do: STOPS the terminals (what they upload is refused; rotate\n"
    "            each first) and STRANDS the credentials (codes not uploaded\n"
    "            yet are refused). A key not listed signed neither. Reads\n"
    "            every credential not released (about 1.5 s a million on\n"
    "            SQLite). Over HTTP, with the trust bundle's keys: GET\n"
    "            /v1/admin/keys\n"
    "  actions   what operators did, in time order: transfers booked,\n"
    "            accounts (and guarantees), merchants and\n"
    "            terminals registered,\n"
    "            credentials issued, credentials, wallets and terminals\n"
    "            revoked (with the reason), merchants closed, terminals\n"
    "            labelled, enrollment codes made and voided, the clock\n"
    "            vouched for, marks dropped, ids skipped, evidence\n"
    "            exported, operators\n"
    "            added, removed, given a new token or renamed at\n"
    "            offpayd's SIGHUP; each with when\n"
    "            and by whom (offpayd: the operator whose token it was;\n"
    "            offpay admin: 'NAME (offpay admin)'), case steps too.\n"
    "            Over HTTP: GET /v1/admin/actions\n"
    "  skip-ids  after a restore from a backup, before offpayd starts on\n"
    "            it: move the next credential serial (on every shard) and\n"
    "            the next terminal id --by N past where they stand (default\n"
    "            1000000; more than were issued since the backup), so that\n"
    "            nothing issued now takes a serial or id a wallet or\n"
    "            terminal holds from before the restore, and the revocation\n"
    "            lists' numbers past those devices hold (docs/operations.md\n"
    "            §5); run twice, it moves them twice. A backup of an older\n"
    "            version is upgraded first, as offpayd would at its start\n"
    "  void-codes  the enrollment codes made under --by NAME (an\n"
    "            operator's name, or 'NAME (offpay admin)') that no wallet\n"
    "            used expire now: offpayd does it when an operator is\n"
    "            taken out of its --operators-file by SIGHUP; run it for\n"
    "            one removed by a restart (docs/operations.md §1)\n"
    "  marks     how far the marks balances are read from go (docs/\n"
    "            settlement.md §10, \"Marks\"), each shard: the transfer\n"
    "            and balance marks held, every transfer up to which id is\n"
    "            marked, when, and how many transfers are above it. With\n"
    "            --drop: every mark removed, under the marking job's lock,\n"
    "            while offpayd runs (the incident step for an audit's\n"
    "            mark_mismatch, docs/operations.md §3): balances read the\n"
    "            whole history, exactly, until offpayd's marking job marks\n"
    "            again\n"
    "\n"
    "  --db LEDGER      the ledger (required, unless --shards; cases, case\n"
    "                   and evidence: or --server, lists: --server only)\n"
    "  --shards FILE    the ledger is the PostgreSQL shards FILE names, as\n"
    "                   for offpayd --shards (docs/scaling.md); audit\n"
    "                   checks each shard and all of them\n"
    "  --json           print one JSON object\n"
    "  --serial N       cases: of this credential only; revoke-credential:\n"
    "                   the credential\n"
    "  --reason TEXT    revoke-credential, revoke-terminal: why (at most 128\n"
    "                   bytes; default 'operator'); revoke-terminal's (text\n"
    "                   without control characters) is kept with the\n"
    "                   revocation, and with --chain with each one revoked\n"
    "  --terminal-id T  revoke-terminal, label-terminal: the terminal\n"
    "  --label TEXT     label-terminal: where it stands\n"
    "  --chain          revoke-terminal: also every terminal T was rotated\n"
    "                   to, and those rotated from them\n"
    "  --kind KIND      cases: of this kind only\n"
    "  --since UNIXTIME cases: opened at or after this time\n"
    "  --open           cases: the open ones only (never closed, or\n"
    "                   reopened since)\n"
    "  --closed         cases: the closed ones only\n"
    "  --note TEXT      case: words kept with the case (1 to 1000 bytes\n"
    "                   of text on one line)\n"
    "  --close TEXT     case: close it; TEXT is its resolution (what was\n"
    "                   done: a refund, a loss written off, the payer\n"
    "                   reached)\n"
    "  --reopen TEXT    case: open a closed case again; TEXT says why\n"
    "  --by NAME        case: who takes the step, kept with it; deposit,\n"
    "                   withdraw, refund, release, enroll-code: who books\n"
    "                   (or makes the code: void-codes finds it), kept with\n"
    "                   each transfer as 'NAME (offpay admin)' ('admin\n"
    "                   transfers' shows it); revoke-wallet,\n"
    "                   revoke-credential, revoke-terminal, label-terminal,\n"
    "                   close-merchant, marks --drop, evidence, and the\n"
    "                   vouch and the code of release and enroll-code:\n"
    "                   who acts,\n"
    "                   kept as 'NAME (offpay admin)' ('admin actions'\n"
    "                   shows it); 1 to 64 bytes (on the ledger: 49);\n"
    "                   default: the login name running the\n"
    "                   command (through sudo, the user who ran sudo);\n"
    "                   case --server: the name of the operator whose\n"
    "                   token it is (offpayd refuses another for a\n"
    "                   named operator's token; with --token-file's\n"
    "                   token it keeps 'NAME (operator token)', at most\n"
    "                   47 bytes)\n"
    "  --after ID       cases, transfers, merchants, accounts, statement:\n"
    "                   with an id above ID (paging); actions: after the\n"
    "                   one a page's last line names ('more: --after ...')\n"
    "  --limit N        cases, transfers, merchants, accounts, actions: at\n"
    "                   most N (default 100, at most 10000)\n"
    "  --account N      revoke-wallet: the wallet's enrolled account;\n"
    "                   transfers, deposit, withdraw: the account;\n"
    "                   enroll-code: a lost wallet's account\n"
    "  --presentment N  refund: the presentment (a statement line's id)\n"
    "  --amount AMOUNT  refund: in the payment's currency, e.g. 2.50;\n"
    "                   deposit, withdraw: in the account's\n"
    "                   (its major unit, at most its decimals, no sign:\n"
    "                   12.50 EUR, 1250 JPY, 12.500 KWD)\n"
    "  --ref TEXT       refund, deposit, withdraw: the operator's reference\n"
    "                   (1 to 128 bytes of text on one line, as offpayd's\n"
    "                   ref), kept with the transfer;\n"
    "                   accounts: the reference an account was opened with;\n"
    "                   enroll-code: the reference the wallet's account is\n"
    "                   opened with (a customer number; 'enrolled wallet'\n"
    "                   without it)\n"
    "  --funded         refund: the merchant paid the amount in (its money\n"
    "                   was paid out): booked as a deposit into its account\n"
    "                   with the refund\n"
    "  --take-held      withdraw: take what a wallet account holds for late\n"
    "                   payments too: what a late payment then finds\n"
    "                   missing is the guarantee's loss (settlement.md §6)\n"
    "  --key KEY        refund, deposit, withdraw: made once under this\n"
    "                   request key (as an\n"
    "                   Idempotency-Key): the same command again moves\n"
    "                   nothing and says so\n"
    "  --currency CODE  enroll-code: the account's currency; guarantee:\n"
    "                   the guarantee's\n"
    "  --expires UNIXTIME  enroll-code: the code's end (default 7 days)\n"
    "  --bundle FILE    evidence: the issuer's trust bundle (bundle.opb of\n"
    "                   the issuer's directory, or GET /v1/bundle): it names\n"
    "                   the issuer keys and is signed by the root\n"
    "  --server URL     cases, case, evidence: ask offpayd at URL\n"
    "                   (http://HOST:PORT, GET /v1/admin/cases) instead of\n"
    "                   reading the ledger; evidence uses its own trust\n"
    "                   bundle\n"
    "  --token-file FILE  with --server: the operator's bearer token\n"
    "  --out FILE       evidence: where to write it (atomically);\n"
    "                   backup: the new file\n"
    "  --into URL       copy-ledger, unseal: the PostgreSQL database, as\n"
    "                   for offpayd --db (a password in a passfile)\n"
    "  --force          evidence: replace an existing FILE; unseal: take\n"
    "                   the seal off without comparing with the copy\n"
    "  --by N           skip-ids: how far (1 to 1000000000)\n"
    "  --by NAME        void-codes: whose codes; actions: whose actions\n"
    "                   (the name in any case)\n"
    "  --action ACTION  actions: of this kind only: create-account,\n"
    "                   create-guarantee, register-merchant,\n"
    "                   register-terminal,\n"
    "                   issue-credential, revoke-credential, revoke-wallet,\n"
    "                   revoke-terminal, close-merchant, label-terminal,\n"
    "                   enroll-code, void-codes, vouch-clock, drop-marks,\n"
    "                   skip-ids, book, export-evidence, case-note,\n"
    "                   case-close, case-reopen, operator-added,\n"
    "                   operator-removed,\n"
    "                   operator-new-token, operator-renamed\n"
    "  --subject N      actions: on this account, credential, terminal or\n"
    "                   merchant only (with --action for one kind)\n"
    "  --drop           marks: remove every mark\n"
    "  --merchant N     terminals: of this merchant only; statement,\n"
    "                   close-merchant: the merchant\n"
    "  --from UNIXTIME  statement, transfers, report, guarantee, balances,\n"
    "                   actions: the period's start (default 0)\n"
    "  --to UNIXTIME    statement, transfers, report, guarantee, balances,\n"
    "                   actions: the period's end, included (default:\n"
    "                   statement, report, guarantee and balances now,\n"
    "                   transfers and actions no end); digest: only the\n"
    "                   transfers dated until then\n"
    "  --upto ID        digest: the transfers up to this id (default: the\n"
    "                   last transfer mark)\n"
    "  --expect HEX     digest: the digest kept (64 hex digits): exit 0\n"
    "                   when it is the same, 1 when not\n"
    "  --expect-actions HEX  digest: the same for the digest of what\n"
    "                   operators did (both given: exit 0 when both are)\n"
    "  --vouch          release: vouch for this machine's clock first\n"
    "  --by-day         report: a report for each UTC day of the period\n"
    "                   (at most 366 days)\n"
    "  --tz ZONE        report --by-day: the days of this time zone (an\n"
    "                   IANA name: Europe/Berlin), from its midnight to its\n"
    "                   next (23 or 25 hours when its clocks change); the\n"
    "                   times printed stay UTC\n"
    "  --csv            report: a CSV table (RFC 4180, a header row, a row\n"
    "                   per merchant and period) for a spreadsheet or an\n"
    "                   accounting import; statement: a row per payment of\n"
    "                   the period, every page (presentment, upload and\n"
    "                   acceptance times, terminal and its label,\n"
    "                   credential, outcome, charged, paid, covered, paid\n"
    "                   later, owed, unpaid, refunded, read_at, final),\n"
    "                   then the refused ones (outcome refused; not again\n"
    "                   with --after); NOT FINAL on stderr while the\n"
    "                   period may change; its movements are 'admin\n"
    "                   transfers --account A --from --to'\n"
    "  --terminal N     statement: the payments at terminal N only (the\n"
    "                   movements are the account's all the same); a\n"
    "                   terminal that is not the merchant's is refused\n"
    "                   (ENOTFOUND, exit 1)\n"
    "  UNIXTIME is seconds since 1970 in UTC (date -u +%s -d 2027-01-01\n"
    "  gives one): a time in milliseconds or a date is refused saying\n"
    "  so, as offpayd's from and to are\n";

/* The commands that read the ledger (lists has its own parser), with the
 * options each takes besides --db, --shards and --json. */
static const struct {
    const char *name, *opts;
} commands[] = {
    {"audit", ""},
    {"release", "now vouch by"},
    {"cases", "serial kind since open closed after limit server token-file"},
    {"case", "note close reopen by server token-file"},
    {"evidence", "bundle out force server token-file by"},
    {"enroll-code", "currency expires ref account by"},
    {"revoke-wallet", "account by"},
    {"credential", "serial"},
    {"revoke-credential", "serial reason by"},
    {"revoke-terminal", "terminal-id chain reason by"},
    {"label-terminal", "terminal-id label by"},
    {"close-merchant", "merchant by"},
    {"transfers", "account from to after limit"},
    {"statement", "merchant from to terminal after csv"},
    {"report", "from to by-day csv tz"},
    {"guarantee", "currency from to"},
    {"balances", "from to"},
    {"digest", "upto to expect expect-actions"},
    {"refund", "presentment amount ref key funded by"},
    {"deposit", "account amount ref key by"},
    {"withdraw", "account amount ref key take-held by"},
    {"merchants", "after limit"},
    {"accounts", "ref after limit"},
    {"backup", "out"},
    {"copy-ledger", "into"},
    {"unseal", "into force"},
    {"skip-ids", "by"},
    {"void-codes", "by"},
    {"marks", "drop by"},
    {"terminals", "merchant stale"},
    {"keys", ""},
    {"actions", "by action subject from to after limit"},
};

/* The length of the line at p, its newline included. */
static size_t line_len(const char *p)
{
    const char *eol = strchr(p, '\n');

    return eol != NULL ? (size_t)(eol - p) + 1 : strlen(p);
}

/* 1 when the line at p names command cmd right after prefix. */
static int names(const char *p, const char *prefix, const char *cmd)
{
    size_t n = strlen(prefix), c = strlen(cmd);

    return strncmp(p, prefix, n) == 0 && strncmp(p + n, cmd, c) == 0 &&
           (p[n + c] == ' ' || p[n + c] == '\n');
}

/*
 * 'offpay admin CMD --help': the part of help about command cmd: its usage
 * lines (the general one, COMMAND replaced, when it has none of its own)
 * and the one for a sharded ledger, the paragraph on the ledger, its
 * entry in the list of commands, and the options it takes: those of
 * common and own ("lists" reads no ledger: its entry says it all).
 */
static void command_help(const char *cmd, const char *common, const char *own)
{
    const char *p, *first = help, *sharded = help + line_len(help);
    int         phase = 0, in = 0, shown = 0;

    /* help's usage lines each begin with 7 characters ("Usage: " or
     * spaces) and go on in lines of 20 spaces; the first two are the
     * general ones. */
    for (p = help; *p != '\n'; p += line_len(p)) {
        int cont = strncmp(p, "                    ", 20) == 0;

        in = names(p, "       offpay admin ", cmd) || (in && cont);
        if (in && cont)
            fwrite(p, 1, line_len(p), stdout);
        else if (in)
            printf("%s%.*s", shown++ == 0 ? "Usage: " : "       ",
                   (int)line_len(p) - 7, p + 7);
    }
    /* lists reads no ledger, backup and copy-ledger copy a SQLite file,
     * unseal writes one: no shards */
    for (int k = 0; k < 2 && strcmp(cmd, "lists") != 0 &&
                    !(k == 1 && (strcmp(cmd, "backup") == 0 ||
                                 strcmp(cmd, "copy-ledger") == 0 ||
                                 strcmp(cmd, "unseal") == 0));
         k++) {
        const char *q = k == 0 ? first : sharded;
        const char *word = strstr(q, "COMMAND");

        if (k == 0 && shown > 0)
            continue;
        printf("%s%.*s%s%.*s", shown++ == 0 ? "Usage: " : "       ",
               (int)(word - q) - 7, q + 7, cmd,
               (int)(line_len(q) - (size_t)(word - q) - 7), word + 7);
    }
    for (; *p != '\0'; p += line_len(p)) {
        size_t len = line_len(p);
        int    entry = len > 2 && p[0] == ' ' && p[1] == ' ' && p[2] != ' ';

        if (phase < 2) { /* the paragraph on the ledger, after a blank */
            if (strncmp(p, "Commands:", 9) == 0) {
                phase = 2;
                if (*common == '\0')
                    putchar('\n');
            } else if (*common != '\0') {
                fwrite(p, 1, len, stdout);
            }
            continue;
        }
        if (strncmp(p, "  --", 4) == 0) { /* an option's entry */
            size_t n = strcspn(p + 4, " \n");
            char   name[32];

            snprintf(name, sizeof name, "%.*s", (int)n, p + 4);
            in = cli_listed(common, name) || cli_listed(own, name);
            if (phase++ == 2 && *common != '\0')
                putchar('\n');
        } else if (len == 1 || entry) {
            in = phase == 2 && entry && names(p, "  ", cmd);
        }
        if (in)
            fwrite(p, 1, len, stdout);
    }
    printf("\nRun 'offpay admin --help' for every admin command.\n");
}

/* The report's money, one currency each (never one sum over several
 * currencies' minor units): a JSON array, or a line per currency
 * starting with prefix. */
static void audit_money(const offpay_audit_report *r, int json,
                        const char *prefix)
{
    if (json)
        printf("\"money\":[");
    for (size_t i = 0; i < r->n_money; i++) {
        const offpay_audit_money *m = &r->money[i];
        const char               *alpha = offpay_currency_alpha(m->currency);
        char                      in[64], net[64];

        if (json)
            printf("%s{\"currency\":\"%s\",\"inside_minor\":%lld,"
                   "\"deposits_net_minor\":%lld,"
                   "\"guarantee_owed_minor\":%lld}",
                   i == 0 ? "" : ",", alpha ? alpha : "", (long long)m->inside,
                   (long long)m->deposits_net, (long long)m->owed);
        else
            printf("%smoney inside %s, deposits less withdrawals %s%s\n",
                   prefix, cli_money(m->inside, m->currency, in, sizeof in),
                   cli_money(m->deposits_net, m->currency, net, sizeof net),
                   m->inside == m->deposits_net ? "" : " (DIFFER)");
        /* what the guarantee owes merchants (settlement.md §5) */
        if (!json && m->owed != 0)
            printf("%sthe guarantee owes merchants %s (claims paid once it "
                   "is funded)\n",
                   prefix, cli_money(m->owed, m->currency, in, sizeof in));
    }
    if (json)
        printf("],\"money_more\":%s,\"money_mismatch\":%llu,",
               r->money_more ? "true" : "false",
               (unsigned long long)r->money_mismatch);
    else if (r->money_more)
        printf("%smore currencies than listed (%u)\n", prefix,
               OFFPAY_AUDIT_CURRENCIES_MAX);
}

/* Where the money inside is, by kind of account, each currency apart
 * (offpay_ledger_overview, read just after the audit, so a write between
 * the two reads shows as a difference; its rows are one per kind and
 * currency, a sharded ledger's parts folded): a line per currency, or the
 * JSON member "held". The finance team's balance sheet of now. */
static void audit_held(offpay_ledger *l, int json)
{
    static const offpay_account_kind kinds[] = {
        OFFPAY_ACCOUNT_WALLET, OFFPAY_ACCOUNT_ESCROW, OFFPAY_ACCOUNT_MERCHANT,
        OFFPAY_ACCOUNT_GUARANTEE};
    static const char *const names[] = {"wallets", "escrows", "merchants",
                                        "guarantee"};
    offpay_overview         *o = NULL;
    uint32_t                 now = cli_now();
    int                      first = 1;

    if (offpay_ledger_overview(l, now, 1, now, &o) != OFFPAY_OK) {
        printf(json ? "\"held\":null,"
                    : "held by kind of account: could "
                      "not be read\n");
        return;
    }
    if (json)
        printf("\"held\":[");
    for (size_t i = 0; i < o->n_kinds; i++) {
        uint16_t cur = o->kinds[i].currency;
        int      seen = 0;
        char     m[64];

        for (size_t j = 0; j < i && !seen; j++) /* each currency once */
            seen = o->kinds[j].currency == cur;
        if (seen)
            continue;
        if (!json)
            printf("held in %s now:", offpay_currency_alpha(cur));
        for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
            const offpay_overview_kind *x = NULL;

            for (size_t j = i; j < o->n_kinds && x == NULL; j++)
                if (o->kinds[j].currency == cur && o->kinds[j].kind == kinds[k])
                    x = &o->kinds[j];
            if (json)
                printf("%s{\"currency\":\"%s\",\"kind\":\"%s\","
                       "\"accounts\":%llu,\"balance_minor\":%lld}",
                       first ? "" : ",", offpay_currency_alpha(cur),
                       offpay_account_kind_name(kinds[k]),
                       (unsigned long long)(x != NULL ? x->accounts : 0),
                       (long long)(x != NULL ? x->balance : 0));
            else
                printf("%s %s %s (%llu)", k == 0 ? "" : ",", names[k],
                       cli_money(x != NULL ? x->balance : 0, cur, m, sizeof m),
                       (unsigned long long)(x != NULL ? x->accounts : 0));
            first = 0;
        }
        if (!json)
            printf("\n");
    }
    if (json)
        printf("],");
    offpay_overview_free(o);
}

/* A sharded ledger: each shard's own audit, its lines (or JSON member)
 * each, so that a failure names its shard. */
static offpay_err audit_shards(offpay_ledger *l, int json)
{
    offpay_err worst = OFFPAY_OK;

    if (json)
        printf("\"shards\":[");
    for (size_t k = 0; k < offpay_ledger_shards(l); k++) {
        offpay_audit_report r;
        offpay_err          rc = offpay_ledger_audit_shard(l, k, &r);

        if (rc != OFFPAY_OK && rc != OFFPAY_EAUDIT)
            return rc;
        if (rc != OFFPAY_OK)
            worst = rc;
        if (json) {
            printf("%s{\"shard\":%zu,\"ok\":%s,", k == 0 ? "" : ",", k,
                   rc == OFFPAY_OK ? "true" : "false");
            audit_money(&r, 1, NULL);
            printf("\"accounts\":%llu,\"transfers\":%llu}",
                   (unsigned long long)r.accounts,
                   (unsigned long long)r.transfers);
        } else {
            char prefix[32];

            printf("shard %zu: accounts %llu, transfers %llu: %s\n", k,
                   (unsigned long long)r.accounts,
                   (unsigned long long)r.transfers,
                   rc == OFFPAY_OK ? "passed" : "FAILED");
            snprintf(prefix, sizeof prefix, "shard %zu: ", k);
            audit_money(&r, 0, prefix);
        }
    }
    if (json)
        printf("],");
    return worst;
}

static int audit(offpay_ledger *l, int json)
{
    offpay_audit_report r;
    offpay_err          rc;

    if (json)
        printf("{");
    if (offpay_ledger_shards(l) > 1) {
        rc = audit_shards(l, json);
        if (rc != OFFPAY_OK && rc != OFFPAY_EAUDIT)
            return cli_fail("audit", rc);
    }
    rc = offpay_ledger_audit(l, &r);
    if (rc != OFFPAY_OK && rc != OFFPAY_EAUDIT)
        return cli_fail("audit", rc);
    if (json) {
        printf("\"ok\":%s,", rc == OFFPAY_OK ? "true" : "false");
        audit_money(&r, 1, NULL);
        audit_held(l, 1);
        printf("\"accounts\":%llu,\"transfers\":%llu,"
               "\"imbalanced\":%llu,\"negative\":%llu,"
               "\"escrow_mismatch\":%llu,\"settle_mismatch\":%llu,"
               "\"release_mismatch\":%llu,\"request_mismatch\":%llu,"
               "\"refund_mismatch\":%llu,\"mark_mismatch\":%llu,"
               "\"case_mismatch\":%llu,\"result_mismatch\":%llu,"
               "\"fund_mismatch\":%llu,\"trail_mismatch\":%llu,"
               "\"newest_transfer_at\":%u}\n",
               (unsigned long long)r.accounts, (unsigned long long)r.transfers,
               (unsigned long long)r.imbalanced, (unsigned long long)r.negative,
               (unsigned long long)r.escrow_mismatch,
               (unsigned long long)r.settle_mismatch,
               (unsigned long long)r.release_mismatch,
               (unsigned long long)r.request_mismatch,
               (unsigned long long)r.refund_mismatch,
               (unsigned long long)r.mark_mismatch,
               (unsigned long long)r.case_mismatch,
               (unsigned long long)r.result_mismatch,
               (unsigned long long)r.fund_mismatch,
               (unsigned long long)r.trail_mismatch,
               (unsigned)r.newest_transfer_at);
    } else {
        char newest[32];

        printf("accounts %llu, transfers %llu (the newest at %s)\n",
               (unsigned long long)r.accounts, (unsigned long long)r.transfers,
               r.newest_transfer_at != 0
                   ? cli_iso_time(r.newest_transfer_at, newest)
                   : "none");
        audit_money(&r, 0, "");
        audit_held(l, 0);
        printf("currencies whose money inside differs from their deposits "
               "less withdrawals: %llu\n",
               (unsigned long long)r.money_mismatch);
        printf("currencies whose balances do not sum to zero: %llu\n"
               "wallet, escrow, merchant or guarantee balances below zero: "
               "%llu\n"
               "escrows whose stored remainder differs from their "
               "transfers: %llu\n"
               "settlements without exactly one settle transfer: %llu\n"
               "releases not done exactly once: %llu\n"
               "request keys naming nothing their request booked: %llu\n"
               "refunds not from the merchant to the payer or the "
               "guarantee, beyond what was paid, beyond what the guarantee "
               "paid or owes for the credential, or to the payer before "
               "the guarantee: %llu\n"
               "marks other than the transfers they sum: %llu\n"
               "cases whose state is not their newest closing or "
               "reopening, or whose closings and reopenings do not "
               "alternate: %llu\n"
               "results whose paid, covered, charge, reason and outcome "
               "do not hold together, and payments whose charged is not "
               "their presentments' paid: %llu\n"
               "credentials not funded exactly once by their limit from "
               "their wallet account, and fund transfers into no "
               "credential's escrow: %llu\n"
               "bookings and case steps whose name the record of what "
               "operators did does not hold the same: %llu\n",
               (unsigned long long)r.imbalanced, (unsigned long long)r.negative,
               (unsigned long long)r.escrow_mismatch,
               (unsigned long long)r.settle_mismatch,
               (unsigned long long)r.release_mismatch,
               (unsigned long long)r.request_mismatch,
               (unsigned long long)r.refund_mismatch,
               (unsigned long long)r.mark_mismatch,
               (unsigned long long)r.case_mismatch,
               (unsigned long long)r.result_mismatch,
               (unsigned long long)r.fund_mismatch,
               (unsigned long long)r.trail_mismatch);
        printf("%s\n",
               rc == OFFPAY_OK ? "audit passed" : "AUDIT FAILED (EAUDIT)");
    }
    return rc == OFFPAY_OK ? EXIT_OK : EXIT_REJECTED;
}

/* `admin enroll-code`: a one-time enrollment code (settle.h). */
static int enroll_code(offpay_ledger *l, const char *currency, uint64_t expires,
                       const char *ref, uint64_t account, int json)
{
    char       code[OFFPAY_ENROLL_CODE_CHARS + 1];
    uint16_t   cur = 0;
    uint32_t   now = cli_now();
    offpay_err rc;

    if (account != 0 && (currency != NULL || ref != NULL))
        return cli_usage_error("admin enroll-code: --account takes the "
                               "account's currency and reference: no "
                               "--currency or --ref with it");
    if (account == 0 && currency == NULL)
        return cli_usage_error("admin enroll-code: --currency CODE is "
                               "required (or --account N, for the owner of "
                               "a lost wallet)");
    if (account == 0 && cli_currency(currency, &cur) != 0)
        return EXIT_USAGE;
    if (expires != 0 && expires <= now)
        return cli_usage_error("admin enroll-code: --expires %llu is not in "
                               "the future (now is %u); give a later unix "
                               "time, or leave it out for 7 days",
                               (unsigned long long)expires, now);
    if (expires == 0)
        expires = (uint64_t)now + OFFPAY_ENROLL_LIFETIME;
    if (account != 0)
        rc = offpay_ledger_enrollment_for(l, account, (uint32_t)expires, now,
                                          code, &cur);
    else
        rc = offpay_ledger_enrollment_add(l, cur, ref, (uint32_t)expires, now,
                                          code);
    if (rc == OFFPAY_EEXISTS && account != 0) {
        fprintf(stderr,
                "offpay: admin enroll-code: the wallet of account %llu is not "
                "revoked: a code for an account is for the owner of a lost "
                "wallet (revoke it first: offpay admin revoke-wallet) "
                "(EEXISTS)\n",
                (unsigned long long)account);
        return EXIT_REJECTED;
    }
    if (rc == OFFPAY_ENOTFOUND && account != 0) {
        fprintf(stderr,
                "offpay: admin enroll-code: no wallet ever enrolled with "
                "account %llu: a new wallet gets a code of --currency "
                "(ENOTFOUND)\n",
                (unsigned long long)account);
        return EXIT_REJECTED;
    }
    if (rc != OFFPAY_OK)
        return cli_fail("admin enroll-code", rc);
    if (json && account != 0)
        printf("{\"code\":\"%s\",\"account\":\"%llu\",\"currency\":\"%s\","
               "\"expires\":%llu}\n",
               code, (unsigned long long)account, offpay_currency_alpha(cur),
               (unsigned long long)expires);
    else if (json)
        printf("{\"code\":\"%s\",\"currency\":\"%s\",\"expires\":%llu}\n", code,
               offpay_currency_alpha(cur), (unsigned long long)expires);
    else
        printf("%s\n", code);
    sodium_memzero(code, sizeof code);
    return EXIT_OK;
}

/* `admin revoke-wallet`: a lost wallet by its account (settle.h). */
static int revoke_wallet(offpay_ledger *l, uint64_t account, int json)
{
    size_t                    n = 0;
    offpay_ledger_wallet_info before, after;
    uint32_t                  back = 0, late = 0;
    char                      when[32];
    offpay_err                rc;

    if (account == 0)
        return cli_usage_error("admin revoke-wallet: --account N is "
                               "required");
    /* revoking again changes nothing (the ledger's rule): the first
     * revocation's time, to say so */
    memset(&before, 0, sizeof before);
    if (offpay_ledger_wallet_get(l, NULL, account, &before) != OFFPAY_OK)
        before.revoked = 0;
    rc = offpay_ledger_wallet_revoke(l, NULL, account, "operator: wallet lost",
                                     cli_now(), &n);
    if (rc == OFFPAY_ENOTFOUND) { /* the operator's input, not the disk */
        fprintf(stderr, "offpay: admin revoke-wallet: no wallet enrolled with "
                        "account %llu (ENOTFOUND)\n",
                (unsigned long long)account);
        return EXIT_REJECTED;
    }
    if (rc != OFFPAY_OK)
        return cli_fail("admin revoke-wallet", rc);
    /* what the payer is told (as POST /v1/admin/wallets/N/revoke says) */
    if (offpay_ledger_wallet_get(l, NULL, account, &after) != OFFPAY_OK ||
        offpay_ledger_wallet_due(l, after.pk, after.revoked_at, &back, &late) !=
            OFFPAY_OK)
        back = late = 0;
    if (json) {
        printf("{\"account\":\"%llu\",\"credentials_revoked\":%zu,"
               "\"already_revoked\":%s,\"revoked_at\":%u,",
               (unsigned long long)account, n,
               before.revoked ? "true" : "false", (unsigned)after.revoked_at);
        if (back != 0)
            printf("\"escrow_back_by\":%u,\"late_until\":%u}\n", (unsigned)back,
                   (unsigned)late);
        else
            printf("\"escrow_back_by\":null,\"late_until\":null}\n");
        return EXIT_OK;
    }
    if (before.revoked && n == 0)
        printf("wallet of account %llu: already revoked at %s; nothing "
               "changed\n",
               (unsigned long long)account,
               cli_iso_time(before.revoked_at, when));
    else
        printf("wallet of account %llu revoked: %zu credential(s) revoked\n",
               (unsigned long long)account, n);
    if (back != 0) {
        char when2[32];

        printf("its escrow is back in the account by %s; what the lost "
               "device paid offline and terminals upload late is paid from "
               "the account until %s\n",
               cli_iso_time(back, when), cli_iso_time(late, when2));
    }
    return EXIT_OK;
}

static json_t *decimal_json(int64_t minor, uint16_t currency);

/* `admin revoke-credential`: one credential by its serial (settle.h). */
/* `admin credential`: what the ledger holds of one wallet credential, its
 * escrow and the guarantee's loss on it (GET /v1/admin/credentials/N). */
static int credential(offpay_ledger *l, uint64_t serial, int json)
{
    offpay_ledger_cred_info c;
    json_t                 *doc = NULL;
    char                    t1[32], t2[32], m[9][64];
    offpay_err              rc;
    uint16_t                cur;

    if (serial == 0)
        return cli_usage_error("admin credential: --serial N is required");
    rc = offpay__credential_json(l, serial, &doc);
    if (rc == OFFPAY_OK)
        rc = offpay_ledger_credential(l, serial, &c);
    if (rc == OFFPAY_ENOT_ISSUED) { /* the operator's input */
        json_decref(doc);
        fprintf(stderr,
                "offpay: admin credential: no credential was issued with "
                "serial %llu (ENOT_ISSUED)\n",
                (unsigned long long)serial);
        return EXIT_REJECTED;
    }
    if (rc != OFFPAY_OK) {
        json_decref(doc);
        return cli_fail("admin credential", rc);
    }
    if (json)
        return cli_print_json(doc, "admin credential");
    cur = c.currency;
    printf("credential %llu  account %llu  limit %s  issuer key %lld  valid "
           "%s to %s\n",
           (unsigned long long)c.serial, (unsigned long long)c.wallet_account,
           cli_money(c.limit, cur, m[0], sizeof m[0]),
           (long long)json_integer_value(json_object_get(doc, "kid")),
           cli_iso_time(c.valid_from, t1), cli_iso_time(c.expires, t2));
    json_decref(doc);
    if (c.revoked)
        printf("  REVOKED at %s\n", cli_iso_time(c.revoked_at, t1));
    printf("  escrow (account %llu): funded %s, late codes taken back %s, "
           "covered by the guarantee %s; paid to merchants %s, released %s; "
           "holds %s\n",
           (unsigned long long)c.escrow_account,
           cli_money(c.funded, cur, m[0], sizeof m[0]),
           cli_money(c.late, cur, m[1], sizeof m[1]),
           cli_money(c.covered, cur, m[2], sizeof m[2]),
           cli_money(c.paid, cur, m[3], sizeof m[3]),
           cli_money(c.released_amount, cur, m[4], sizeof m[4]),
           cli_money(c.remaining, cur, m[5], sizeof m[5]));
    if (c.released)
        printf("  released at %s; late codes paid from the account until "
               "%s\n",
               cli_iso_time(c.released_at, t1), cli_iso_time(c.late_until, t2));
    else
        printf("  released at the release job's first run after %s; late "
               "codes paid from the account until %s\n",
               cli_iso_time(c.release_due, t1), cli_iso_time(c.late_until, t2));
    printf("  the guarantee: covered %s, claims paid %s, owed %s, refunds "
           "back %s: net loss %s\n",
           cli_money(c.covered, cur, m[0], sizeof m[0]),
           cli_money(c.claimed, cur, m[1], sizeof m[1]),
           cli_money(c.owed, cur, m[2], sizeof m[2]),
           cli_money(c.refunded_to_guarantee, cur, m[3], sizeof m[3]),
           cli_money(c.net_loss, cur, m[4], sizeof m[4]));
    return EXIT_OK;
}

static int revoke_credential(offpay_ledger *l, uint64_t serial,
                             const char *reason, int json)
{
    offpay_ledger_cred_info before, after;
    char                    when[32], until[32], money[64];
    offpay_err              rc;

    if (serial == 0)
        return cli_usage_error("admin revoke-credential: --serial N is "
                               "required");
    rc = offpay_ledger_credential(l, serial, &before);
    if (rc == OFFPAY_OK)
        rc = offpay_ledger_revoke(
            l, serial, reason != NULL ? reason : "operator", cli_now());
    if (rc == OFFPAY_OK)
        rc = offpay_ledger_credential(l, serial, &after);
    if (rc == OFFPAY_ENOT_ISSUED) { /* the operator's input, not the disk */
        fprintf(stderr,
                "offpay: admin revoke-credential: no credential "
                "was issued with serial %llu (ENOT_ISSUED)\n",
                (unsigned long long)serial);
        return EXIT_REJECTED;
    }
    if (rc != OFFPAY_OK)
        return cli_fail("admin revoke-credential", rc);
    if (json)
        return cli_print_json(
            json_pack("{s:o, s:o, s:b, s:I, s:I, s:I, s:o}", "serial",
                      cli_json_u64(serial), "account",
                      cli_json_u64(after.wallet_account), "already_revoked",
                      before.revoked, "revoked_at",
                      (json_int_t)after.revoked_at, "expires",
                      (json_int_t)after.expires, "release_due",
                      (json_int_t)after.release_due, "remaining",
                      decimal_json(after.remaining, after.currency)),
            "admin revoke-credential");
    cli_iso_time(after.revoked_at, when);
    cli_iso_time(after.expires, until);
    if (before.revoked)
        printf("credential %llu: already revoked at %s; nothing changed\n",
               (unsigned long long)serial, when);
    else
        printf("credential %llu (account %llu) revoked at %s: terminals "
               "refuse its codes once they have taken the next revocation "
               "list (offpayd serves it now)\n",
               (unsigned long long)serial,
               (unsigned long long)after.wallet_account, when);
    if (!after.released) {
        char due[32];

        printf("its escrow (%s left) returns to the account on %s (its "
               "expiry, %s, plus offpayd's upload grace)\n",
               cli_money(after.remaining, after.currency, money, sizeof money),
               cli_iso_time(after.release_due, due), until);
    }
    return EXIT_OK;
}

/* The most terminals a chain of rotations is followed through: far more
 * than a terminal's life holds (one per key change). */
#define ROTATION_CHAIN_MAX 64

/* The terminals id was rotated to, in order, into to[] (*n of them;
 * ROTATION_CHAIN_MAX at most): the ledger records each rotation with the
 * revocation of the terminal rotated away (offpay_ledger_terminal_rotated_to).
 */
static offpay_err rotation_chain(offpay_ledger *l, uint32_t id,
                                 uint32_t to[ROTATION_CHAIN_MAX], size_t *n)
{
    uint32_t   next = 0;
    offpay_err rc = OFFPAY_OK;

    *n = 0;
    while (*n < ROTATION_CHAIN_MAX &&
           (rc = offpay_ledger_terminal_rotated_to(l, id, &next)) ==
               OFFPAY_OK &&
           next > id) { /* a new terminal's id is above the old one's */
        to[(*n)++] = next;
        id = next;
    }
    return rc;
}

/* Terminal id as the operator's list gives it (offpay_ledger_terminals,
 * the directory's row): its merchant, state, revocation and the reason
 * kept. Errors: those of offpay_ledger_terminals, OFFPAY_ENOTFOUND. */
static offpay_err terminal_entry(offpay_ledger *l, uint32_t id,
                                 offpay_ledger_terminal_entry *e)
{
    offpay_ledger_terminal_entry *v = NULL;
    size_t                        n = 0;
    offpay_err                    rc;

    if (id == 0)
        return OFFPAY_ENOTFOUND;
    rc = offpay_ledger_terminals(l, 0, id - 1, 1, &v, &n);
    if (rc == OFFPAY_OK && (n == 0 || v[0].terminal_id != id))
        rc = OFFPAY_ENOTFOUND;
    if (rc == OFFPAY_OK)
        *e = v[0];
    free(v);
    return rc;
}

/* A revoked terminal's reason as the text says it, into buf (cap bytes):
 * (reason "TEXT"), or (no reason kept) for a revocation made before the
 * ledger kept reasons (0.18.0). */
static const char *reason_text(const offpay_ledger_terminal_entry *e, char *buf,
                               size_t cap)
{
    if (e->revoke_reason[0] == '\0')
        snprintf(buf, cap, "(no reason kept)");
    else
        snprintf(buf, cap, "(reason \"%s\")", e->revoke_reason);
    return buf;
}

/* A revoked terminal's reason as --json gives it: the text, or null. */
static json_t *reason_json(const offpay_ledger_terminal_entry *e)
{
    return e->state != OFFPAY_TERMINAL_ACTIVE && e->revoke_reason[0] != '\0'
               ? json_string(e->revoke_reason)
               : json_null();
}

/* Room for reason_text's words around the longest reason. */
#define REASON_TEXT_MAX (OFFPAY_LEDGER_REF_MAX + 32)

/* text as one shell word, for a command printed to be run: as it is
 * when it holds only characters no shell treats specially, else in
 * single quotes (each ' as '\''); into buf (cap bytes), cut if longer. */
static const char *shell_word(const char *text, char *buf, size_t cap)
{
    size_t n = 0;

    if (cap < 3) {
        if (cap > 0)
            buf[0] = '\0';
        return buf;
    }
    if (text[0] != '\0' &&
        strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                     "0123456789@%+=:,./_-") == strlen(text)) {
        snprintf(buf, cap, "%s", text);
        return buf;
    }
    buf[n++] = '\'';
    for (const char *c = text; *c != '\0' && n + 5 < cap; c++)
        if (*c == '\'') {
            memcpy(buf + n, "'\\''", 4);
            n += 4;
        } else
            buf[n++] = *c;
    buf[n++] = '\'';
    buf[n] = '\0';
    return buf;
}

/* After revoke_terminal's own: the terminals it was rotated to, each
 * revoked too with chain (for reason); said as text or put in arr. One
 * left active (no chain) is warned of, with the command that revokes it
 * (db: the ledger as given, without a password), on stdout, or on stderr
 * beside --json; *active counts them. */
static offpay_err revoke_chain(offpay_ledger *l, uint32_t id, int chain,
                               const char *reason, const char *db, json_t *arr,
                               size_t *active)
{
    uint32_t                     to[ROTATION_CHAIN_MAX];
    size_t                       n = 0;
    offpay_ledger_terminal_entry before, after;
    char                         when[32], why[REASON_TEXT_MAX];
    offpay_err                   rc;

    *active = 0;
    rc = rotation_chain(l, id, to, &n);
    for (size_t i = 0; rc == OFFPAY_OK && i < n; i++) {
        uint32_t from = i == 0 ? id : to[i - 1];
        int      was, now;

        rc = terminal_entry(l, to[i], &before);
        was = before.state != OFFPAY_TERMINAL_ACTIVE;
        if (rc == OFFPAY_OK && chain && !was)
            rc = offpay_ledger_terminal_revoke_why(l, to[i], reason, cli_now());
        if (rc == OFFPAY_OK)
            rc = terminal_entry(l, to[i], &after);
        if (rc != OFFPAY_OK)
            break;
        now = after.state != OFFPAY_TERMINAL_ACTIVE;
        cli_iso_time(after.revoked_at, when);
        reason_text(&after, why, sizeof why);
        if (!now) {
            /* only without chain: the stolen device lives on there */
            char w1[LEDGER_SHOWN_MAX + 8], w2[2 * OFFPAY_LEDGER_REF_MAX + 8];

            (*active)++;
            fprintf(arr != NULL ? stderr : stdout,
                    "WARNING: terminal %lu was rotated to terminal %lu, "
                    "which is still ACTIVE: whoever holds that terminal's "
                    "key (a stolen terminal rotated to a key of its "
                    "thief's) is still paid for what it accepts. Revoke "
                    "it: offpay admin revoke-terminal --db %s --terminal-id "
                    "%lu%s%s (or this command again with --chain)\n",
                    (unsigned long)from, (unsigned long)to[i],
                    shell_word(db, w1, sizeof w1), (unsigned long)to[i],
                    reason != NULL ? " --reason " : "",
                    reason != NULL ? shell_word(reason, w2, sizeof w2) : "");
        }
        if (arr != NULL)
            json_array_append_new(
                arr,
                json_pack("{s:I, s:I, s:b, s:b, s:o, s:o}", "terminal",
                          (json_int_t)to[i], "rotated_from", (json_int_t)from,
                          "already_revoked", was, "revoked", now, "revoked_at",
                          now ? json_integer((json_int_t)after.revoked_at)
                              : json_null(),
                          "revoke_reason", reason_json(&after)));
        else if (!now)
            ; /* the WARNING above */
        else if (was)
            printf("terminal %lu was rotated to terminal %lu: already "
                   "revoked at %s %s%s\n",
                   (unsigned long)from, (unsigned long)to[i], when, why,
                   chain ? "; nothing changed" : "");
        else
            printf("terminal %lu was rotated to terminal %lu: revoked at "
                   "%s %s (--chain)\n",
                   (unsigned long)from, (unsigned long)to[i], when, why);
    }
    return rc;
}

/* A terminal's last report as `admin terminals` and `revoke-terminal
 * --json` give it: {reported_at, synced_at, pending, state, accepting,
 * lists_at, pending_amount} (the last four null from a terminal before
 * 0.27.0; lists_at null also when it never took them), or null. */
static json_t *report_json(const offpay_terminal_report *rp, uint16_t currency)
{
    char r[32], s[32], a[32];
    int  known = rp->state_known;

    if (!rp->reported)
        return json_null();
    return json_pack(
        "{s:s, s:s, s:I, s:o, s:o, s:o, s:o}", "reported_at",
        cli_iso_time(rp->reported_at, r), "synced_at",
        cli_iso_time(rp->synced_at, s), "pending", (json_int_t)rp->pending,
        "state", known ? json_string(rp->state) : json_null(), "accepting",
        known ? json_boolean(strcmp(rp->state, "OK") == 0) : json_null(),
        "lists_at",
        known && rp->lists_at != 0 ? json_string(cli_iso_time(rp->lists_at, a))
                                   : json_null(),
        "pending_amount",
        known ? offpay__json_amount(rp->pending_amount, currency)
              : json_null());
}

/* The message of an error named as offpay_errname names it ("ESYNC_REQUIRED"),
 * or NULL for a name this version does not know (a newer terminal's). */
static const char *message_of(const char *name)
{
    for (int e = 1; e < 1024; e++)
        if (strcmp(offpay_errname((offpay_err)e), name) == 0)
            return offpay_strerror((offpay_err)e);
    return NULL;
}

/* `admin CMD` on terminal id failed rc: no such terminal said with where
 * the ids are; the exit status. */
static int terminal_fail(const char *cmd, uint64_t id, offpay_err rc)
{
    char what[48];

    if (rc != OFFPAY_ENOTFOUND) {
        snprintf(what, sizeof what, "admin %s", cmd);
        return cli_fail(what, rc);
    }
    fprintf(stderr,
            "offpay: admin %s: no terminal %llu (ENOTFOUND; 'offpay admin "
            "terminals' lists them)\n",
            cmd, (unsigned long long)id);
    return EXIT_REJECTED;
}

/* `admin label-terminal`: where terminal id stands (label NULL or "":
 * cleared). */
static int label_terminal(offpay_ledger *l, uint64_t id, const char *label,
                          int json)
{
    offpay_ledger_terminal_entry t;
    offpay_err                   rc;

    if (id == 0)
        return cli_usage_error("admin label-terminal: --terminal-id T is "
                               "required (a decimal id from 1)");
    rc = offpay_ledger_terminal_label(l, (uint32_t)id, label, cli_now());
    if (rc == OFFPAY_OK)
        rc = terminal_entry(l, (uint32_t)id, &t);
    if (rc != OFFPAY_OK)
        return terminal_fail("label-terminal", id, rc);
    if (json)
        return cli_print_json(
            json_pack("{s:I, s:o}", "terminal", (json_int_t)id, "label",
                      t.label[0] != '\0' ? json_string(t.label) : json_null()),
            "admin label-terminal");
    if (t.label[0] != '\0')
        printf("terminal %llu labelled \"%s\"\n", (unsigned long long)id,
               t.label);
    else
        printf("terminal %llu: label cleared\n", (unsigned long long)id);
    return EXIT_OK;
}

/* `admin revoke-terminal`: a lost or stolen terminal by its id, for
 * reason (NULL: "operator"), which the ledger keeps; the terminals it was
 * rotated to named, and with chain revoked too (for the same reason); a
 * warning when its last sync reported payments it still held. */
static int revoke_terminal(offpay_ledger *l, const char *db, uint64_t id,
                           int chain, const char *reason, int json)
{
    offpay_ledger_terminal_entry before, after;
    offpay_terminal_report       rp;
    char                         when[32], why[REASON_TEXT_MAX];
    char                         warning[OFFPAY__REVOKE_WARNING_MAX];
    offpay_err                   rc;
    size_t                       active = 0; /* rotated to, still active */
    int                          st;

    if (id == 0)
        return cli_usage_error("admin revoke-terminal: --terminal-id T is "
                               "required");
    rc = terminal_entry(l, (uint32_t)id, &before);
    if (rc == OFFPAY_OK)
        rc = offpay_ledger_terminal_revoke_why(l, (uint32_t)id, reason,
                                               cli_now());
    if (rc == OFFPAY_OK)
        rc = terminal_entry(l, (uint32_t)id, &after);
    if (rc == OFFPAY_OK)
        rc = offpay_ledger_terminal_last_report(l, (uint32_t)id, &rp);
    if (rc != OFFPAY_OK)
        return terminal_fail("revoke-terminal", id, rc);
    if (json) {
        json_t *arr = json_array();

        rc = arr != NULL ? revoke_chain(l, (uint32_t)id, chain, reason, db, arr,
                                        &active)
                         : OFFPAY_ENOMEM;
        if (rc != OFFPAY_OK) {
            json_decref(arr);
            return cli_fail("admin revoke-terminal", rc);
        }
        const char *w = offpay__revoke_warning(id, &rp, warning);

        st = cli_print_json(
            json_pack("{s:I, s:o, s:b, s:I, s:o, s:o, s:o, s:o}", "terminal",
                      (json_int_t)id, "merchant",
                      cli_json_u64(after.merchant_id), "already_revoked",
                      before.state != OFFPAY_TERMINAL_ACTIVE, "revoked_at",
                      (json_int_t)after.revoked_at, "revoke_reason",
                      reason_json(&after), "rotated_to", arr, "report",
                      report_json(&rp, after.currency), "warning",
                      w != NULL ? json_string(w) : json_null()),
            "admin revoke-terminal");
        return st == EXIT_OK && active > 0 ? EXIT_REJECTED : st;
    }
    cli_iso_time(after.revoked_at, when);
    reason_text(&after, why, sizeof why);
    if (before.state != OFFPAY_TERMINAL_ACTIVE)
        printf("terminal %llu: already revoked at %s %s; nothing changed\n",
               (unsigned long long)id, when, why);
    else
        printf("terminal %llu of merchant %llu revoked at %s %s: what it "
               "accepted before is paid when it is uploaded; what it "
               "uploads as accepted after is refused (ETERMINAL_REVOKED), "
               "and it stops accepting at its next sync\n",
               (unsigned long long)id, (unsigned long long)after.merchant_id,
               when, why);
    if (offpay__revoke_warning(id, &rp, warning) != NULL)
        printf("WARNING: %s\n", warning);
    rc = revoke_chain(l, (uint32_t)id, chain, reason, db, NULL, &active);
    if (rc != OFFPAY_OK)
        return cli_fail("admin revoke-terminal", rc);
    /* a terminal it was rotated to still accepts: what the operator
     * revokes a lost or stolen terminal for is not done (exit 1, as a
     * sync whose payments were refused) */
    return active > 0 ? EXIT_REJECTED : EXIT_OK;
}

/* `admin close-merchant`: a merchant leaving (offpay_ledger_merchant_close):
 * no new terminal, its active ones revoked. */
static int close_merchant(offpay_ledger *l, uint64_t merchant, int json)
{
    uint32_t   closed_at = 0;
    size_t     revoked = 0;
    int        replayed = 0;
    char       when[32];
    offpay_err rc;

    if (merchant == 0)
        return cli_usage_error("admin close-merchant: --merchant N is "
                               "required");
    rc = offpay_ledger_merchant_close(l, merchant, cli_now(), &closed_at,
                                      &revoked, &replayed);
    if (rc == OFFPAY_ENOTFOUND) {
        fprintf(stderr,
                "offpay: admin close-merchant: no merchant %llu (ENOTFOUND; "
                "'offpay admin merchants' lists them)\n",
                (unsigned long long)merchant);
        return EXIT_REJECTED;
    }
    if (rc != OFFPAY_OK)
        return cli_fail("admin close-merchant", rc);
    cli_iso_time(closed_at, when);
    if (json)
        return cli_print_json(json_pack("{s:o, s:s, s:I, s:b}", "merchant",
                                        cli_json_u64(merchant), "closed_at",
                                        when, "terminals_revoked",
                                        (json_int_t)revoked, "replayed",
                                        replayed),
                              "admin close-merchant");
    if (replayed)
        printf("merchant %llu: already closed at %s; %zu terminal(s) "
               "revoked now\n",
               (unsigned long long)merchant, when, revoked);
    else
        printf("merchant %llu closed at %s: %zu terminal(s) revoked "
               "(\"merchant closed\"); no terminal is registered for it any "
               "more. What its terminals accepted before is paid when it is "
               "uploaded, into its account, until the late window of the "
               "last credential they took ends (74 days with offpayd's "
               "defaults), and the guarantee's open claims for its "
               "payments whenever it is funded: keep paying out what "
               "arrives (docs/operations.md, \"Closing a payer's account, "
               "a merchant leaving\")\n",
               (unsigned long long)merchant, when, revoked);
    return EXIT_OK;
}

static int release(offpay_ledger *l, int vouch, int json)
{
    offpay_release_report rep;
    uint32_t              now = cli_now(), ahead = 0;
    offpay_err            rc = OFFPAY_OK;
    char                  m[64], at[32];

    /* first, when asked: this clock is right, the newest transfers were
     * dated ahead of it (settlement.md §10, "The ledger's clock") */
    if (vouch && (rc = offpay_ledger_clock_vouch(l, now, &ahead)) != OFFPAY_OK)
        return cli_fail("vouch for the clock", rc);
    if (vouch && !json)
        printf("vouched for this clock (%s): bookings are held to it and to "
               "what is booked from now on; the newest transfer was dated "
               "%lu s ahead of it\n",
               cli_iso_time(now, at), (unsigned long)ahead);
    rc = offpay_ledger_release_report(l, now, &rep);
    if (rc != OFFPAY_OK)
        return cli_fail("release", rc);
    if (json)
        printf("{\"released\":%zu,\"returned\":[", rep.released);
    else
        printf("released %zu escrow(s)", rep.released);
    /* each currency's own sum, back to the payers' accounts */
    for (size_t i = 0; i < rep.n_sums; i++) {
        const offpay_release_sum *x = &rep.sums[i];

        if (json)
            printf("%s{\"currency\":\"%s\",\"escrows\":%zu,"
                   "\"amount_minor\":%lld}",
                   i == 0 ? "" : ",", offpay_currency_alpha(x->currency),
                   x->escrows, (long long)x->returned);
        else
            printf("%s %s from %zu", i == 0 ? ":" : ",",
                   cli_money(x->returned, x->currency, m, sizeof m),
                   x->escrows);
    }
    if (json)
        printf("],\"returned_more\":%s,\"claims_paid\":%zu,\"vouched\":%s,"
               "\"ahead_seconds\":%lu}\n",
               rep.more ? "true" : "false", rep.claims_paid,
               vouch ? "true" : "false", (unsigned long)ahead);
    else
        printf("%s back to the payers' accounts; %zu claim(s) on the "
               "guarantee paid\n",
               rep.more ? " and more currencies" : "", rep.claims_paid);
    return EXIT_OK;
}

/* How far the marks go (offpay_ledger_marks_state), or with drop every
 * mark removed (offpay_ledger_marks_drop): what each shard held. */
static int marks(offpay_ledger *l, int drop, int json)
{
    size_t                    max = offpay_ledger_shards(l), n = 0;
    offpay_ledger_marks_info *m = calloc(max, sizeof *m);
    offpay_err                rc;
    json_t                   *arr = NULL;
    char                      a[32], b[32];

    if (m == NULL)
        return cli_fail("admin marks", OFFPAY_ENOMEM);
    rc = drop ? offpay_ledger_marks_drop(l, m, max, &n)
              : offpay_ledger_marks_state(l, m, max, &n);
    if (rc == OFFPAY_EBUSY && drop)
        fprintf(stderr,
                "offpay: admin marks: shard %zu's lock on its transfers was "
                "not had within 100 ms (a VACUUM, ANALYZE or index build "
                "holds it): its marks are left as they were%s; run it again "
                "(EBUSY)\n",
                n, n > 0 ? " (the shards before it were dropped)" : "");
    else if (rc != OFFPAY_OK)
        fprintf(stderr, "offpay: admin marks: %s (%s)%s\n", offpay_strerror(rc),
                offpay_errname(rc),
                drop && n > 0 ? "; the shards before it were dropped" : "");
    if (json)
        arr = json_array();
    for (size_t k = 0; k < n; k++) {
        const offpay_ledger_marks_info *i = &m[k];

        if (json) {
            json_array_append_new(
                arr,
                json_pack("{s:I, s:I, s:I, s:I, s:o, s:o, s:I, s:I}", "shard",
                          (json_int_t)k, "transfer_marks",
                          (json_int_t)i->transfer_marks, "balance_marks",
                          (json_int_t)i->balance_marks, "upto",
                          (json_int_t)i->upto, "latest_at",
                          i->upto ? json_integer(i->latest_at) : json_null(),
                          "made_at",
                          i->upto ? json_integer(i->made_at) : json_null(),
                          "max_id", (json_int_t)i->max_id, "unmarked",
                          (json_int_t)i->unmarked));
            continue;
        }
        if (n > 1)
            printf("shard %zu: ", k);
        if (i->upto == 0)
            printf("no marks%s", drop ? " to drop" : "");
        else
            printf("%s%llu transfer marks and %llu balance marks: every "
                   "transfer up to id %llu (the latest at %s), marked at %s",
                   drop ? "dropped " : "",
                   (unsigned long long)i->transfer_marks,
                   (unsigned long long)i->balance_marks,
                   (unsigned long long)i->upto, cli_iso_time(i->latest_at, a),
                   cli_iso_time(i->made_at, b));
        printf("; %llu transfers above it%s (the highest id %llu)\n",
               (unsigned long long)i->unmarked,
               drop ? "" : ", read whole by each balance",
               (unsigned long long)i->max_id);
    }
    if (json && arr != NULL) {
        int st =
            cli_print_json(json_pack("{s:b, s:o}", "dropped",
                                     drop && rc == OFFPAY_OK, "shards", arr),
                           "admin marks");

        if (rc == OFFPAY_OK && st != EXIT_OK)
            rc = OFFPAY_EIO;
    } else if (drop && rc == OFFPAY_OK)
        printf("balances and statements are read from the whole history "
               "until the marking job marks again (offpayd --mark-every); "
               "run 'offpay admin audit' now\n");
    free(m);
    return rc == OFFPAY_OK ? EXIT_OK : EXIT_FAILURE_IO;
}

/* After a restore: the next serial and terminal id moved past those
 * devices may hold (offpay_ledger_skip_ids). */
static int skip_ids(offpay_ledger *l, uint64_t by, int json)
{
    uint64_t   serial = 0;
    uint32_t   terminal = 0;
    offpay_err rc = offpay_ledger_skip_ids(l, by, &serial, &terminal);

    if (rc == OFFPAY_ERANGE) {
        fprintf(stderr,
                "offpay: admin skip-ids: moving by %llu passes the "
                "ids a shard (or a terminal id's 32 bits) may take: "
                "give a smaller --by (ERANGE)\n",
                (unsigned long long)by);
        return EXIT_FAILURE_IO;
    }
    if (rc != OFFPAY_OK)
        return cli_fail("skip-ids", rc);
    if (json)
        printf("{\"next_serial\":\"%llu\",\"next_terminal\":%u}\n",
               (unsigned long long)serial, terminal);
    else
        printf("the next credential serial is now %llu, the next terminal "
               "id %u (%llu past where they stood); the revocation list's "
               "number moved as far, so that every device's next sync takes "
               "the restored ledger's revocations whole\n",
               (unsigned long long)serial, terminal, (unsigned long long)by);
    return EXIT_OK;
}

/* Says so, and 1, when offpay_ledger_exists gave rc for a SQLite file
 * that is there but holds no ledger. */
static int no_ledger_file(const char *db, offpay_err rc)
{
    char shown[LEDGER_SHOWN_MAX];

    if (rc != OFFPAY_ENOENT ||
        offpay_ledger_backend_of(db) != OFFPAY_LEDGER_SQLITE ||
        access(db, F_OK) != 0)
        return 0;
    fprintf(stderr,
            "offpay: %s: no offpay ledger there (an empty file, or another "
            "program's database): give offpayd's --db, or restore the "
            "ledger from its backup (docs/operations.md §4); nothing was "
            "changed (ENOENT)\n",
            ledger_shown(db, shown));
    return 1;
}

/* The library's lines while the audit's temporary copy of an older
 * backup is opened (ctx: the backup's file): that copy's upgrade is said
 * as the copy's, since the backup itself keeps its version; every other
 * line as the CLI says it (cli_log). */
static void audit_copy_log(void *ctx, const char *line)
{
    static const char up[] = "offpay: ledger upgraded ";

    if (strncmp(line, up, sizeof up - 1) == 0)
        fprintf(stderr,
                "offpay: admin backup: the audit's temporary copy of %s "
                "%s (removed after the audit; %s itself keeps its "
                "version)\n",
                (const char *)ctx, line + strlen("offpay: ledger "),
                (const char *)ctx);
    else
        cli_log(NULL, line);
}

/* A consistent copy of a SQLite ledger while offpayd runs on it, then the
 * audit on the copy: a backup the operator can trust, or an exit that
 * says why not. */
static int backup(const char *db, const char *out, int json)
{
    offpay_ledger      *l = NULL;
    offpay_audit_report r;
    unsigned            have = 0, want = 0;
    char                audited[4096 + 32], shown[LEDGER_SHOWN_MAX];
    int                 made = 0; /* the audited copy */
    offpay_err          rc = offpay_ledger_exists(db);

    ledger_shown(db, shown);
    if (no_ledger_file(db, rc))
        return EXIT_FAILURE_IO;
    if (rc != OFFPAY_OK)
        return cli_fail_at("admin backup", "opening", shown, rc);
    /* the copy is audited by opening it, which would migrate an older
     * one: a copy of an older ledger must stay what it was (the backup
     * taken before an upgrade is the way back), so such a copy is audited
     * through a second copy, brought to this version and removed */
    rc = offpay_ledger_schema(db, &have, &want);
    if (rc != OFFPAY_OK)
        return cli_fail_at("admin backup", "opening", shown, rc);
    if (have > want) {
        fprintf(stderr,
                "offpay: admin backup: %s: the ledger's schema is version "
                "%u, this offpay's is %u (older): take the backup with the "
                "offpay of the ledger's version; nothing was written "
                "(EVERSION)\n",
                shown, have, want);
        return EXIT_FAILURE_IO;
    }
    rc = offpay_ledger_backup(db, out);
    if (rc == OFFPAY_EEXISTS) {
        fprintf(stderr,
                "offpay: admin backup: %s exists: give a new file (a backup "
                "never replaces one) (EEXISTS)\n",
                out);
        return EXIT_USAGE;
    }
    if (rc != OFFPAY_OK)
        return cli_fail_at("admin backup", "creating", out, rc);
    if (have < want) {
        snprintf(audited, sizeof audited, "%s.audit-%ld", out, (long)getpid());
        rc = offpay_ledger_backup(out, audited);
        made = rc == OFFPAY_OK; /* (EEXISTS: not this run's to remove) */
    }
    /* (the CLI runs one thread: the sink is swapped for this open only) */
    if (rc == OFFPAY_OK && have < want)
        offpay_set_log(audit_copy_log, (void *)out);
    if (rc == OFFPAY_OK)
        rc = offpay_ledger_open(have < want ? audited : out, NULL, &l);
    offpay_set_log(cli_log, NULL);
    if (rc == OFFPAY_OK)
        rc = offpay_ledger_audit(l, &r);
    offpay_ledger_close(l);
    if (made) {
        char side[sizeof audited + 8];

        unlink(audited);
        snprintf(side, sizeof side, "%s-wal", audited);
        unlink(side);
        snprintf(side, sizeof side, "%s-shm", audited);
        unlink(side);
    }
    if (rc != OFFPAY_OK) {
        fprintf(stderr,
                "offpay: admin backup: %s was written, but its audit failed "
                "(%s): do not rely on it; 'offpay admin audit --db %s' says "
                "more\n",
                out, offpay_errname(rc), out);
        return rc == OFFPAY_EAUDIT ? EXIT_REJECTED : EXIT_FAILURE_IO;
    }
    if (json) {
        char newest[32];
        int  st = cli_print_json(
             json_pack(
                 "{s:s, s:s, s:b, s:I, s:I, s:I, s:o}", "ledger", shown,
                 "backup", out, "audit", 1, "accounts", (json_int_t)r.accounts,
                 "transfers", (json_int_t)r.transfers, "schema",
                 (json_int_t)have, "newest_transfer_at",
                r.newest_transfer_at != 0
                     ? json_string(cli_iso_time(r.newest_transfer_at, newest))
                     : json_null()),
             "admin backup");

        if (st != EXIT_OK)
            return st;
    } else {
        char newest[32];

        printf("backup of %s written to %s (%llu accounts, %llu "
               "transfers, the newest at %s); its audit passed\n",
               db, out, (unsigned long long)r.accounts,
               (unsigned long long)r.transfers,
               r.newest_transfer_at != 0
                   ? cli_iso_time(r.newest_transfer_at, newest)
                   : "none");
        if (have < want)
            printf("the backup keeps the ledger's schema version %u (this "
                   "offpay's is %u): offpayd of this version upgrades a "
                   "ledger restored from it when it starts; its audit ran on "
                   "a second copy, upgraded and removed\n",
                   have, want);
    }
    return EXIT_OK;
}

/* copy-ledger's seal taken off a SQLite ledger (offpay__ledger_unseal). */
static int unseal(const char *db, const char *into, int force, int json)
{
    char                 shown[LEDGER_SHOWN_MAX], target[LEDGER_SHOWN_MAX] = "";
    char                 reason[OFFPAY__SEAL_REASON_MAX + 1] = "";
    char                 where[OFFPAY__SEAL_REASON_MAX + 1], when[64];
    offpay__copy_report *r = NULL;
    offpay_err           rc;
    int                  st;

    ledger_shown(db, shown);
    if (force)
        rc = offpay__ledger_unseal_forced(db, reason, sizeof reason);
    else {
        r = calloc(1, sizeof *r);
        if (r == NULL)
            return cli_fail("admin unseal", OFFPAY_ENOMEM);
        ledger_shown(into, target);
        rc = offpay__ledger_unseal_same(db, into, r);
        snprintf(reason, sizeof reason, "%s", r->sealed);
    }
    if (rc == OFFPAY_ENOENT && no_ledger_file(db, rc)) {
        st = EXIT_FAILURE_IO;
        goto out;
    }
    if (rc == OFFPAY_EEXISTS &&
        offpay__seal_into(r->sealed, where, sizeof where, when, sizeof when) ==
            0 &&
        offpay__store_postgres_differ(where, into)) {
        /* not the database it was copied into: a wrong --into, most
         * likely, rather than a copy settled on since */
        fprintf(stderr,
                "offpay: admin unseal: %s was sealed into %s (copied at %s), "
                "not %s: give --into the database it was copied into (with "
                "its password, if it needs one); the seal stays (EEXISTS)\n",
                shown, where, when, target);
        st = EXIT_REJECTED;
        goto out;
    }
    if (rc == OFFPAY_EEXISTS) {
        fprintf(stderr,
                "offpay: admin unseal: %s is not the copy of %s (%s): what "
                "was settled there since the copy is not in the file, and "
                "an offpayd on the file would go on from where the copy "
                "began; the seal stays (give --force to take it off all the "
                "same, once that is accounted for) (EEXISTS)\n",
                target, shown, r->differ);
        st = EXIT_REJECTED;
        goto out;
    }
    if ((rc == OFFPAY_ERETRY || rc == OFFPAY_EBUSY) && r != NULL) {
        fprintf(stderr,
                "offpay: admin unseal: %s: %s; the seal stays: run "
                "it again (%s)\n",
                shown, r->differ, offpay_errname(rc));
        st = EXIT_REJECTED;
        goto out;
    }
    if (rc == OFFPAY_EVERSION) {
        fprintf(stderr,
                "offpay: admin unseal: %s or %s is not at this offpay's "
                "schema version: unseal with the offpay that copied it, or "
                "give --force; the seal stays (EVERSION)\n",
                shown, target);
        st = EXIT_FAILURE_IO;
        goto out;
    }
    if (rc != OFFPAY_OK && rc != OFFPAY_ENOTFOUND) {
        st = cli_fail_at("admin unseal", "unsealing", shown, rc);
        goto out;
    }
    if (json)
        st = cli_print_json(
            json_pack("{s:s, s:b, s:o, s:b}", "ledger", shown, "unsealed",
                      rc == OFFPAY_OK, "seal",
                      rc == OFFPAY_OK ? json_string(reason) : json_null(),
                      "compared", !force),
            "admin unseal");
    else if (rc == OFFPAY_ENOTFOUND)
        printf("%s is not sealed: nothing changed\n", shown);
    else
        printf("unsealed %s: it was sealed (%s)%s. offpayd and offpay admin "
               "write to it again, an offpayd still running on it at once; "
               "never run offpayd on both ledgers (docs/operations.md, "
               "\"Moving from SQLite to PostgreSQL\")\n",
               shown, reason,
               force ? "; not compared with the copy: what was settled "
                       "there since is not in the file"
                     : "; the copy still holds what the file holds, nothing "
                       "settled there since");
    st = EXIT_OK;
out:
    free(r);
    return st;
}

/* A SQLite ledger moved to PostgreSQL (offpay__ledger_copy): the copy,
 * its proof, or why not, with what to do. */
static int copy_ledger(const char *db, const char *into, int json)
{
    offpay__copy_report *r = calloc(1, sizeof *r);
    char                 shown[LEDGER_SHOWN_MAX], target[LEDGER_SHOWN_MAX];
    char                 newest[32];
    uint64_t             rows = 0;
    offpay_err           rc;
    int                  st = EXIT_OK;

    if (r == NULL)
        return cli_fail("admin copy-ledger", OFFPAY_ENOMEM);
    ledger_shown(db, shown);
    ledger_shown(into, target);
    rc = offpay__ledger_copy(db, into, cli_now(), r);
    if (rc == OFFPAY_ENOENT) {
        if (!no_ledger_file(db, rc))
            st = cli_fail_at("admin copy-ledger", "opening", shown, rc);
        else
            st = EXIT_FAILURE_IO;
        goto out;
    }
    if (rc == OFFPAY_EVERSION) {
        if (r->schema != r->want)
            fprintf(stderr,
                    "offpay: admin copy-ledger: %s: the ledger's schema is "
                    "version %u, this offpay's is %u: %s; nothing was "
                    "written (EVERSION)\n",
                    shown, r->schema, r->want,
                    r->schema < r->want
                        ? "upgrade it first: take a backup ('offpay admin "
                          "backup'), then start the offpayd of this version "
                          "on it once (it upgrades the ledger when it "
                          "starts; 'offpay admin skip-ids' upgrades it too) "
                          "and stop it; then copy"
                        : "the ledger was made by a newer offpay: copy it "
                          "with that version");
        else
            fprintf(stderr,
                    "offpay: admin copy-ledger: %s holds a ledger at schema "
                    "version %u, this offpay's is %u: a copy goes into a "
                    "database without the ledger's schema or an empty "
                    "ledger of this version; nothing was written "
                    "(EVERSION)\n",
                    target, r->target_schema, r->want);
        st = EXIT_FAILURE_IO;
        goto out;
    }
    if (rc == OFFPAY_ELEDGER_SEALED) {
        char where[OFFPAY__SEAL_REASON_MAX + 1], when[64];

        if (offpay__seal_into(r->sealed, where, sizeof where, when,
                              sizeof when) != 0)
            snprintf(where, sizeof where, "URL");
        fprintf(stderr,
                "offpay: admin copy-ledger: %s is sealed: %s; it is not "
                "copied twice. If that copy is given up and nothing has "
                "settled on it, first 'offpay admin unseal --db %s --into "
                "%s' (the database it was copied into, with its password if "
                "it needs one: the seal comes off while that is still the "
                "copy; --force instead of --into takes it off whatever "
                "became of it); nothing was written (ELEDGER_SEALED)\n",
                shown, r->sealed, shown, where);
        st = EXIT_REJECTED;
        goto out;
    }
    if (rc == OFFPAY_ERETRY || rc == OFFPAY_EBUSY) {
        fprintf(stderr,
                "offpay: admin copy-ledger: %s: %s: stop every offpayd on "
                "the file, then copy again; rolled back, no row was "
                "committed into %s and the file is not sealed (%s)\n",
                shown,
                r->differ[0] ? r->differ
                             : "another process held the file's lock (an "
                               "offpayd or another offpay command running "
                               "on it)",
                target, offpay_errname(rc));
        st = EXIT_REJECTED;
        goto out;
    }
    if (r->commit_unknown) {
        fprintf(stderr,
                "offpay: admin copy-ledger: the commit into %s failed: %s "
                "(%s), so whether the copy was committed is not known; the "
                "file is not sealed. Run the same copy-ledger again: a copy "
                "that was committed is found the same and the file sealed "
                "then, one that was not is made\n",
                target, offpay_strerror(rc), offpay_errname(rc));
        st = EXIT_FAILURE_IO;
        goto out;
    }
    if (rc == OFFPAY_EEXISTS) {
        fprintf(stderr,
                "offpay: admin copy-ledger: %s is not empty (%s): a copy "
                "goes only into a database without the ledger's schema or "
                "an empty ledger (createdb a new one), never over another "
                "ledger's rows (a database that holds this file's copy "
                "already is found the same, and the file sealed); nothing "
                "was written (EEXISTS)\n",
                target, r->differ);
        st = EXIT_REJECTED;
        goto out;
    }
    if (rc == OFFPAY_EAUDIT || (rc == OFFPAY_ESTORE && r->differ[0])) {
        fprintf(stderr,
                "offpay: admin copy-ledger: the copy of %s into %s is not "
                "the same: %s; rolled back, no row of it was committed%s "
                "(%s)\n",
                shown, target, r->differ,
                r->created ? " (the database keeps the empty ledger's schema "
                             "this copy gave it)"
                           : "",
                offpay_errname(rc));
        st = rc == OFFPAY_EAUDIT ? EXIT_REJECTED : EXIT_FAILURE_IO;
        goto out;
    }
    if (rc != OFFPAY_OK) {
        st = cli_fail_at("admin copy-ledger", "copying into", target, rc);
        goto out;
    }
    for (size_t i = 0; i < r->n_tables; i++)
        rows += r->table[i].rows;
    if (r->unsealed != OFFPAY_OK) {
        fprintf(stderr,
                "offpay: WARNING: admin copy-ledger: the copy into %s is "
                "committed and proved, but %s could not be sealed: %s (%s). "
                "An offpayd started on the file would take payments the "
                "PostgreSQL ledger never sees: run the same copy-ledger "
                "again once the cause is fixed (it finds the copy the same "
                "and seals the file), and never start offpayd on the file "
                "(docs/operations.md, \"Moving from SQLite to PostgreSQL\")\n",
                target, shown, offpay_strerror(r->unsealed),
                offpay_errname(r->unsealed));
        st = EXIT_REJECTED;
    }
    if (json) {
        json_t *tables = json_array(), *money = json_array();

        for (size_t i = 0; tables != NULL && i < r->n_tables; i++)
            json_array_append_new(
                tables,
                json_pack("{s:s, s:I, s:o}", "name", r->table[i].name, "rows",
                          (json_int_t)r->table[i].rows, "next_id",
                          r->table[i].next_id != 0
                              ? json_integer((json_int_t)r->table[i].next_id)
                              : json_null()));
        for (size_t i = 0; money != NULL && i < r->audit.n_money; i++) {
            const char *alpha =
                offpay_currency_alpha(r->audit.money[i].currency);

            json_array_append_new(
                money, json_pack("{s:s, s:I, s:I}", "currency",
                                 alpha != NULL ? alpha : "", "inside_minor",
                                 (json_int_t)r->audit.money[i].inside,
                                 "deposits_net_minor",
                                 (json_int_t)r->audit.money[i].deposits_net));
        }
        int printed = cli_print_json(
            json_pack(
                "{s:s, s:s, s:I, s:b, s:b, s:I, s:o, s:o, s:{s:b, s:I, s:I, "
                "s:o, s:o}}",
                "ledger", shown, "into", target, "schema",
                (json_int_t)r->schema, "created", r->created, "already",
                r->already, "rows", (json_int_t)rows, "tables", tables,
                "sealed",
                r->unsealed == OFFPAY_OK ? json_string(r->sealed) : json_null(),
                "audit", "same", 1, "accounts", (json_int_t)r->audit.accounts,
                "transfers", (json_int_t)r->audit.transfers, "money", money,
                "newest_transfer_at",
                r->audit.newest_transfer_at != 0
                    ? json_string(
                          cli_iso_time(r->audit.newest_transfer_at, newest))
                    : json_null()),
            "admin copy-ledger");

        if (printed != EXIT_OK)
            st = printed;
        goto out;
    }
    if (r->already)
        printf("%s was copied into %s before (schema version %u): %llu rows "
               "in %zu tables, the same there now, ids unchanged\n",
               shown, target, r->schema, (unsigned long long)rows, r->n_tables);
    else
        printf("copied %s into %s (%s %u): %llu rows in %zu tables, ids "
               "unchanged\n",
               shown, target,
               r->created ? "given the ledger's schema, version"
                          : "an empty ledger at schema version",
               r->schema, (unsigned long long)rows, r->n_tables);
    for (size_t i = 0; i < r->n_tables; i++) {
        if (r->table[i].next_id != 0)
            printf("  %-18s %10llu rows, next id %llu\n", r->table[i].name,
                   (unsigned long long)r->table[i].rows,
                   (unsigned long long)r->table[i].next_id);
        else
            printf("  %-18s %10llu rows\n", r->table[i].name,
                   (unsigned long long)r->table[i].rows);
    }
    printf("audit the same on both sides, and passed: accounts %llu, "
           "transfers %llu (the newest at %s)\n",
           (unsigned long long)r->audit.accounts,
           (unsigned long long)r->audit.transfers,
           r->audit.newest_transfer_at != 0
               ? cli_iso_time(r->audit.newest_transfer_at, newest)
               : "none");
    audit_money(&r->audit, 0, "");
    printf("each table's rows and next id are the same on both sides; start "
           "offpayd with --db on the PostgreSQL URL and the same issuer "
           "files, and keep %s as it is (docs/operations.md)\n",
           shown);
    if (r->unsealed == OFFPAY_OK)
        printf("sealed %s (%s): every write to it is refused from now on, "
               "and offpayd does not start on it; 'offpay admin unseal --db "
               "%s --into %s' is the way back while nothing has settled on "
               "the copy\n",
               shown, r->sealed, shown, target);
out:
    free(r);
    return st;
}

/* The options of every admin command. */
typedef struct admin_args {
    const char        *db, *bundle, *out, *server, *token_file;
    int                json, force;
    offpay_case_filter f;
    uint64_t           limit;
} admin_args;

static int parse_u64(const char *opt, const char *v, uint64_t max,
                     uint64_t *out)
{
    char              *end = NULL;
    unsigned long long x;
    int period = strcmp(opt, "--from") == 0 || strcmp(opt, "--to") == 0;

    /* a time: offpayd's words for its from and to (milliseconds, a date,
     * the form), core/unixtime.c */
    if (period || strcmp(opt, "--expires") == 0 ||
        strcmp(opt, "--since") == 0) {
        char     hint[OFFPAY__UNIX_TIME_HINT_MAX];
        uint32_t t;

        if (offpay__unix_time_parse(opt, v, period, &t, hint, sizeof hint) != 0)
            return cli_usage_error("admin: %s", hint);
        *out = t;
        return 0;
    }
    errno = 0;
    if (v[0] < '0' || v[0] > '9' || (v[0] == '0' && v[1] != '\0'))
        return cli_usage_error("admin: %s takes a decimal number", opt);
    x = strtoull(v, &end, 10);
    if (*end != '\0')
        return cli_usage_error("admin: %s takes a decimal number", opt);
    if (errno != 0 || x > max)
        return cli_usage_error("admin: %s is out of range", opt);
    *out = x;
    return 0;
}

/* The line under a page of a list: how many WHAT, and when the page is
 * full, the --after that gives the next one. */
static void page_end(size_t n, uint64_t limit, uint64_t last, const char *what)
{
    printf("%zu %s(s)", n, what);
    if (n == (size_t)limit)
        printf("; the next page: --after %llu", (unsigned long long)last);
    printf("\n");
}

/* A page of a list as JSON, printed: its count, its items arr (taken)
 * under what, and when the page is full the next page's --after (last). */
static int page_json(json_t *arr, const char *what, size_t n, uint64_t limit,
                     uint64_t last)
{
    return cli_print_json(json_pack("{s:I, s:o, s:o?}", "count", (json_int_t)n,
                                    what, arr, "next_after",
                                    n == (size_t)limit ? cli_json_u64(last)
                                                       : NULL),
                          what);
}

/* An amount as the CLI's JSON gives it beside its minor units: its
 * decimal text ("" if it cannot be written). */
static json_t *decimal_json(int64_t minor, uint16_t currency)
{
    char text[OFFPAY_AMOUNT_TEXT_MAX];

    if (offpay_amount_format(minor, currency, text, sizeof text) != OFFPAY_OK)
        text[0] = '\0';
    return json_string(text);
}

/* One transfer of an account's history, from its side, as a line that
 * starts with what (`transfer`, or a statement's `movement`). */
static void print_transfer(const char *what, const offpay_account_transfer *t,
                           uint16_t currency)
{
    char when[32], money[64];

    cli_iso_time(t->at, when);
    offpay_amount_format(t->amount < 0 ? -t->amount : t->amount, currency,
                         money, sizeof money);
    printf("%s %llu  %s  %-8s %c%s %s %s account %llu", what,
           (unsigned long long)t->id, when, t->kind, t->amount < 0 ? '-' : '+',
           money, t->amount < 0 ? "to" : "from",
           offpay_account_kind_name(t->other_kind),
           (unsigned long long)t->other);
    if (t->presentment != 0)
        printf("  presentment %llu", (unsigned long long)t->presentment);
    if (t->case_id != 0)
        printf("  case %llu", (unsigned long long)t->case_id);
    if (t->serial != 0)
        printf("  serial %llu", (unsigned long long)t->serial);
    if (t->ref[0] != '\0')
        printf("  \"%s\"", t->ref);
    if (t->by[0] != '\0')
        printf("  by %s", t->by);
    printf("\n");
}

/* A wallet account's escrow still held, when the last of it is due back
 * (ISO time), as --json gives it: null when none is held. */
static json_t *escrow_back_json(const offpay_wallet_account_info *a)
{
    char at[32];

    if (a->escrow_back == 0)
        return json_null();
    return json_string(cli_iso_time(a->escrow_back, at));
}

/* "escrow 40.00 EUR held, back by T": sep, then the money its credentials'
 * escrows still hold and when the last of it comes back into the account
 * (an operator about to close an account sees it); nothing when none. */
static void print_escrow_held(const offpay_wallet_account_info *a,
                              const char                       *sep)
{
    char money[64], at[32];

    if (a->escrow_held == 0 && a->escrow_back == 0)
        return;
    printf("%sescrow %s held, back by %s", sep,
           cli_money(a->escrow_held, a->currency, money, sizeof money),
           cli_iso_time(a->escrow_back, at));
}

/* The latest end of a wallet account's late windows (ISO time) as --json
 * gives it: null when it has passed by now (or there is none). */
static json_t *late_until_json(const offpay_wallet_account_info *a,
                               uint32_t                          now)
{
    char at[32];

    if (a->late_until <= now)
        return json_null();
    return json_string(cli_iso_time(a->late_until, at));
}

/* "late payments until T": sep, then until when a late upload of what a
 * terminal accepted offline may still be paid from the account
 * (settlement.md §6: what is withdrawn before may end as the guarantee's
 * loss); nothing once passed. */
static void print_late_until(const offpay_wallet_account_info *a, uint32_t now,
                             const char *sep)
{
    char at[32];

    if (a->late_until > now)
        printf("%slate payments until %s", sep,
               cli_iso_time(a->late_until, at));
}

/* "late_held" (an amount, or "0.00") and "late_held_until" (ISO time, or
 * null when nothing is held) into j, as --json gives them. */
static void late_held_json(json_t *j, const offpay_wallet_account_info *a)
{
    char at[32];

    if (j == NULL)
        return;
    json_object_set_new(j, "late_held",
                        decimal_json(a->late_held, a->currency));
    json_object_set_new(j, "late_held_until",
                        a->late_held > 0
                            ? json_string(cli_iso_time(a->late_held_until, at))
                            : json_null());
}

/* "held H until T": sep, then what the account holds for the late
 * presentments of its released credentials (settlement.md §6: it funds
 * no credential until then); nothing when nothing is held. */
static void print_late_held(const offpay_wallet_account_info *a,
                            const char                       *sep)
{
    char money[64], at[32];

    if (a->late_held > 0)
        printf("%sheld %s until %s", sep,
               cli_money(a->late_held, a->currency, money, sizeof money),
               cli_iso_time(a->late_held_until, at));
}

/* "NOT FINAL: ..." when the period ending at `to` (UINT32_MAX: none) may
 * still change at now, what names it: what is dated up to `to` may still
 * be booked for OFFPAY__PERIOD_FINAL_AFTER s after it, so it is final
 * (`"final": true`) from `to` + OFFPAY__PERIOD_FINAL_AFTER + 1 on
 * (docs/api.md, "When a period is final"); nothing once it is final. */
static void print_not_final(uint32_t to, uint32_t now, const char *what)
{
    char     t1[32], t2[32];
    uint64_t at = (uint64_t)to + OFFPAY__PERIOD_FINAL_AFTER + 1;

    if (offpay__period_final(to, now))
        return;
    if (to == UINT32_MAX || at > UINT32_MAX) {
        printf("NOT FINAL: the period has no end (no --to): %s can still "
               "change (--json: \"final\": false)\n",
               what);
        return;
    }
    printf("NOT FINAL: what is dated up to %s may still be booked until %u "
           "s after it: %s is final from %s on; read it again then "
           "(--json: \"final\": false)\n",
           cli_iso_time(to, t1), (unsigned)OFFPAY__PERIOD_FINAL_AFTER, what,
           cli_iso_time((uint32_t)at, t2));
}

/* An amount with its sign always written ("+3.00 EUR", "-2.00 EUR",
 * "0.00 EUR"): a statement's sums, into or out of the account. */
static const char *signed_money(int64_t minor, uint16_t currency, char *buf,
                                size_t cap)
{
    size_t plus = minor > 0 && cap > 1;

    buf[0] = '+';
    cli_money(minor, currency, buf + plus, cap - plus);
    return buf;
}

/* "HEAD: settled +X  refunds -Y  deposits Z  withdrawals W  other V": a
 * period's sums by kind, as a statement and an account's history say
 * them. */
static void print_sums(const char *head, const offpay_statement_account *a,
                       uint16_t currency)
{
    char m[5][64];

    printf("%s: settled %s  refunds %s  deposits %s  withdrawals %s  other "
           "%s\n",
           head, signed_money(a->settled, currency, m[0], sizeof m[0]),
           signed_money(a->refunds, currency, m[1], sizeof m[1]),
           signed_money(a->deposits, currency, m[2], sizeof m[2]),
           signed_money(a->withdrawals, currency, m[3], sizeof m[3]),
           signed_money(a->other, currency, m[4], sizeof m[4]));
}

/* `admin transfers`: an account's transfers whose own time is in [from,
 * to], a page at a time, from its side, under its balance (settle.h,
 * offpay_ledger_transfers_period). */
static int transfers(offpay_ledger *l, uint64_t account, uint32_t from,
                     uint32_t to, const admin_args *a)
{
    offpay_account_transfer    *v = NULL;
    offpay_account_state        st;
    offpay_wallet_account_info *w = NULL; /* a wallet account's row */
    size_t                      n = 0, nw = 0;
    char                     when[32], money[64];
    const char              *alpha;
    uint16_t                 currency;
    offpay_err               rc;
    offpay_statement_account    per;
    int                         period = from != 0 || to != UINT32_MAX;

    memset(&per, 0, sizeof per);
    if (account == 0)
        return cli_usage_error("admin transfers: --account N is required");
    if (from > to)
        return cli_usage_error("admin transfers: --from is after --to "
                               "(both unix times, both included)");
    rc = offpay_ledger_transfers_period(l, account, from, to, a->f.after_id,
                                        (size_t)a->limit, &v, &n, &st);
    if (rc == OFFPAY_ENOTFOUND || rc == OFFPAY_ENOT_ISSUED) {
        fprintf(stderr, "offpay: admin transfers: no account %llu (%s)\n",
                (unsigned long long)account, offpay_errname(rc));
        return EXIT_REJECTED;
    }
    if (rc != OFFPAY_OK)
        return cli_fail("transfers", rc);
    currency = st.currency;
    alpha = offpay_currency_alpha(currency);
    /* a period asked: its balances and sums, whatever the page */
    if (period) {
        rc = offpay_ledger_account_period(l, account, from, to, &per);
        if (rc != OFFPAY_OK) {
            free(v);
            return cli_fail("transfers", rc);
        }
    }
    /* a wallet account's escrow still held: its balance alone may say
     * 0.00 while money comes back to it */
    if (st.kind == OFFPAY_ACCOUNT_WALLET) {
        rc = offpay_ledger_wallet_accounts_at(l, NULL, account - 1, 1,
                                              cli_now(), &w, &nw);
        if (rc != OFFPAY_OK || nw != 1 || w[0].id != account) {
            free(v);
            free(w);
            return cli_fail("transfers", rc != OFFPAY_OK ? rc : OFFPAY_ESTORE);
        }
    }
    if (a->json) {
        json_t *arr = json_array(), *doc;

        for (size_t i = 0; arr != NULL && i < n; i++) {
            json_t *t;

            cli_iso_time(v[i].at, when);
            t = json_pack("{s:o, s:s, s:s, s:I, s:o, s:o, s:s}", "id",
                          cli_json_u64(v[i].id), "at", when, "kind", v[i].kind,
                          "amount_minor", (json_int_t)v[i].amount, "amount",
                          decimal_json(v[i].amount, currency), "other",
                          cli_json_u64(v[i].other), "other_kind",
                          offpay_account_kind_name(v[i].other_kind));

            if (t != NULL) {
                json_object_set_new(t, "presentment",
                                    v[i].presentment != 0
                                        ? cli_json_u64(v[i].presentment)
                                        : json_null());
                json_object_set_new(t, "case",
                                    v[i].case_id != 0
                                        ? cli_json_u64(v[i].case_id)
                                        : json_null());
                json_object_set_new(t, "ref",
                                    v[i].ref[0] != '\0'
                                        ? json_string(v[i].ref)
                                        : json_null());
                json_object_set_new(t, "serial",
                                    v[i].serial != 0 ? cli_json_u64(v[i].serial)
                                                     : json_null());
                json_object_set_new(t, "by",
                                    v[i].by[0] != '\0' ? json_string(v[i].by)
                                                       : json_null());
            }
            json_array_append_new(arr, t);
        }
        doc = json_pack("{s:o, s:s, s:s, s:I, s:o, s:I, s:o}", "account",
                        cli_json_u64(account), "kind",
                        offpay_account_kind_name(st.kind), "currency",
                        alpha != NULL ? alpha : "", "balance_minor",
                        (json_int_t)st.balance, "balance",
                        decimal_json(st.balance, currency), "count",
                        (json_int_t)n, "transfers", arr);
        if (doc != NULL)
            json_object_set_new(doc, "serial",
                                st.serial != 0 ? cli_json_u64(st.serial)
                                               : json_null());
        if (doc != NULL)
            json_object_set_new(doc, "next_after",
                                n == (size_t)a->limit
                                    ? cli_json_u64(v[n - 1].id)
                                    : json_null());
        /* as GET /v1/admin/accounts/N/transfers says it (without --to:
         * false) */
        if (doc != NULL)
            json_object_set_new(
                doc, "final",
                json_boolean(offpay__period_final(to, cli_now())));
        if (doc != NULL && period)
            json_object_set_new(
                doc, "period",
                json_pack("{s:I, s:o, s:I, s:o, s:{s:o, s:o, s:o, s:o, s:o}}",
                          "opening_balance_minor",
                          (json_int_t)per.opening_balance, "opening_balance",
                          decimal_json(per.opening_balance, currency),
                          "closing_balance_minor",
                          (json_int_t)per.closing_balance, "closing_balance",
                          decimal_json(per.closing_balance, currency),
                          "movement_sums", "settled",
                          decimal_json(per.settled, currency), "refunds",
                          decimal_json(per.refunds, currency), "deposits",
                          decimal_json(per.deposits, currency), "withdrawals",
                          decimal_json(per.withdrawals, currency), "other",
                          decimal_json(per.other, currency)));
        if (doc != NULL && w != NULL) {
            json_object_set_new(doc, "escrow_held",
                                decimal_json(w[0].escrow_held, currency));
            json_object_set_new(doc, "escrow_back", escrow_back_json(&w[0]));
            json_object_set_new(doc, "late_until",
                                late_until_json(&w[0], cli_now()));
            late_held_json(doc, &w[0]);
        }
        free(v);
        free(w);
        return cli_print_json(doc, "transfers");
    }
    printf("account %llu: %s", (unsigned long long)account,
           offpay_account_kind_name(st.kind));
    if (st.serial != 0)
        printf(" of credential %llu", (unsigned long long)st.serial);
    printf(", balance %s",
           cli_money(st.balance, currency, money, sizeof money));
    if (w != NULL) {
        print_escrow_held(&w[0], ", ");
        print_late_until(&w[0], cli_now(), ", ");
        print_late_held(&w[0], ", ");
    }
    printf("\n");
    free(w);
    if (from != 0 || to != UINT32_MAX) {
        char t2[32];

        printf("transfers at %s to %s\n", cli_iso_time(from, when),
               cli_iso_time(to, t2));
        print_not_final(to, cli_now(), "this period's history");
        printf("opening balance %s before %s\n",
               cli_money(per.opening_balance, currency, money, sizeof money),
               cli_iso_time(from, when));
    }
    for (size_t i = 0; i < n; i++)
        print_transfer("transfer", &v[i], currency);
    if (period) {
        /* the period's, whatever the page shows of it */
        print_sums("the period's movements", &per, currency);
        if (to == UINT32_MAX)
            printf(
                "closing balance %s: the balance now, the period having "
                "no end (no --to; NOT FINAL)\n",
                cli_money(per.closing_balance, currency, money, sizeof money));
        else
            printf(
                "closing balance %s after %s%s\n",
                cli_money(per.closing_balance, currency, money, sizeof money),
                cli_iso_time(to, when),
                offpay__period_final(to, cli_now()) ? "" : " (NOT FINAL)");
    }
    printf("%zu transfer(s)", n);
    if (n == (size_t)a->limit) {
        /* the next page of the same period */
        printf("; the next page: --after %llu",
               (unsigned long long)v[n - 1].id);
        if (from != 0)
            printf(" --from %lu", (unsigned long)from);
        if (to != UINT32_MAX)
            printf(" --to %lu", (unsigned long)to);
    }
    printf("\n");
    free(v);
    return EXIT_OK;
}

/* `admin digest`: each shard's digest of its transfers up to upto (0: its
 * last transfer mark) or dated until `until` (UINT32_MAX: any), and with
 * expect whether an unsharded ledger's is the one kept (exit 1 when
 * not). */
/* A digest kept (want) against the one read (got), 32 bytes each: which
 * of the two lines holds, printed; 1 when the same. */
static int expect_said(const uint8_t *want, const uint8_t *got,
                       const char *same, const char *differs)
{
    int ok = sodium_memcmp(want, got, 32) == 0;

    printf("%s\n", ok ? same : differs);
    return ok;
}

static int digest(offpay_ledger *l, uint64_t upto, uint32_t until,
                  const char *expect, const char *expect_actions, int json)
{
    offpay_transfers_digest d[OFFPAY_SHARDS_MAX];
    offpay_actions_digest   a[OFFPAY_SHARDS_MAX];
    uint8_t                 want[sizeof d[0].digest], want_a[sizeof want];
    size_t                  n = 0, na = 0, wlen = 0;
    char                    hex[2 * sizeof d[0].digest + 1], at[32];
    offpay_err              rc;
    int                     same = 1;

    if (expect != NULL &&
        (sodium_hex2bin(want, sizeof want, expect, strlen(expect), NULL, &wlen,
                        NULL) != 0 ||
         wlen != sizeof want))
        return cli_usage_error("admin digest: --expect is a digest as "
                               "this command prints it: 64 hex digits");
    if (expect_actions != NULL &&
        (sodium_hex2bin(want_a, sizeof want_a, expect_actions,
                        strlen(expect_actions), NULL, &wlen, NULL) != 0 ||
         wlen != sizeof want_a))
        return cli_usage_error("admin digest: --expect-actions is a digest "
                               "as this command prints it: 64 hex digits");
    if (expect != NULL && upto == 0 && until == UINT32_MAX)
        return cli_usage_error("admin digest: --expect needs the --upto or "
                               "--to the digest was kept with");
    if (expect_actions != NULL && until == UINT32_MAX)
        return cli_usage_error("admin digest: --expect-actions needs the "
                               "--to the digest was kept with");
    if ((expect != NULL || expect_actions != NULL) && json)
        return cli_usage_error("admin digest: --expect says whether it is "
                               "the same in words and its exit status; "
                               "leave out --json");
    if ((expect != NULL || expect_actions != NULL) &&
        offpay_ledger_shards(l) != 1)
        return cli_usage_error("admin digest: --expect takes one digest: "
                               "compare each shard's line on a sharded "
                               "ledger");
    rc =
        offpay_ledger_digest(l, (int64_t)upto, until, d, OFFPAY_SHARDS_MAX, &n);
    /* and what operators did until the same time (all of it by id) */
    if (rc == OFFPAY_OK)
        rc = offpay_ledger_actions_digest(l, until, a, OFFPAY_SHARDS_MAX, &na);
    if (rc == OFFPAY_OK && na != n)
        rc = OFFPAY_ESTORE;
    if (rc != OFFPAY_OK)
        return cli_fail("digest", rc);
    if (json) {
        json_t *j = offpay__digest_json(d, a, n);

        /* whether what it covers can still change (a period by --to) */
        if (j != NULL && until != UINT32_MAX)
            json_object_set_new(
                j, "final",
                json_boolean(offpay__period_final(until, cli_now())));
        return cli_print_json(j, "digest");
    }
    for (size_t k = 0; k < n; k++) {
        sodium_bin2hex(hex, sizeof hex, d[k].digest, sizeof d[k].digest);
        if (n > 1)
            printf("shard %zu: ", k);
        if (until != UINT32_MAX && upto == 0)
            printf("transfers dated until %s", cli_iso_time(until, at));
        else if (until != UINT32_MAX)
            printf("transfers up to id %lld dated until %s",
                   (long long)d[k].upto, cli_iso_time(until, at));
        else
            printf("transfers up to id %lld%s", (long long)d[k].upto,
                   d[k].marked ? " (marked)" : " (above the last mark)");
        printf(": %llu transfer(s)", (unsigned long long)d[k].transfers);
        if (d[k].transfers > 0)
            printf(", the last id %lld, the newest dated %s",
                   (long long)d[k].last_id, cli_iso_time(d[k].newest_at, at));
        printf("\ndigest %s\n", hex);
        sodium_bin2hex(hex, sizeof hex, a[k].digest, sizeof a[k].digest);
        if (n > 1)
            printf("shard %zu: ", k);
        if (until != UINT32_MAX)
            printf("operators' actions dated until %s",
                   cli_iso_time(until, at));
        else
            printf("operators' actions, all");
        printf(": %llu action(s)", (unsigned long long)a[k].actions);
        if (a[k].actions > 0)
            printf(", the newest dated %s", cli_iso_time(a[k].newest_at, at));
        printf("\nactions digest %s\n", hex);
    }
    if (until != UINT32_MAX)
        print_not_final(until, cli_now(), "this digest");
    if (expect != NULL)
        same &= expect_said(
            want, d[0].digest,
            "the same as the digest expected: the transfers it covers are "
            "those it was kept of",
            "DIFFERS from the digest expected: a transfer it covers was "
            "changed, removed, added or booked since it was kept (or it was "
            "kept with another --upto or --to)");
    if (expect_actions != NULL)
        same &= expect_said(
            want_a, a[0].digest,
            "the same as the actions digest expected: the operators' actions "
            "it covers are those it was kept of",
            "DIFFERS from the actions digest expected: an operator's action "
            "it covers was changed, removed or added since it was kept (or it "
            "was kept with another --to)");
    return same ? EXIT_OK : EXIT_REJECTED;
}

/* `admin balances`: the ledger's balance sheet over [from, to], read and
 * rendered as GET /v1/admin/balances (offpay_ledger_balance_sheet,
 * src/settle/render.c): per currency a line per kind of account, its
 * opening, in, out and closing, then the period's movements. */
static int balances(offpay_ledger *l, uint32_t from, uint32_t to, int json)
{
    static const char *const label[5] = {"world (outside)", "wallets",
                                         "escrows", "merchants", "guarantee"};
    offpay_balance_sheet    *s = malloc(sizeof *s);
    uint32_t                 now = cli_now();
    char                     t1[32], t2[32], m[4][64];
    offpay_err               rc;
    int                      status = EXIT_OK;

    if (s == NULL)
        return cli_fail("balances", OFFPAY_ENOMEM);
    if (from > to) {
        free(s);
        return cli_usage_error("admin balances: --from is after --to "
                               "(both unix times, both included)");
    }
    rc = offpay_ledger_balance_sheet(l, from, to, s);
    if (rc != OFFPAY_OK) {
        status = cli_fail("balances", rc);
    } else if (json) {
        status = cli_print_json(offpay__sheet_json(s, now), "balances");
    } else {
        printf("the ledger's balances: before %s, and at the end of %s: %s\n",
               from == 0 ? "its first transfer" : cli_iso_time(from, t1),
               cli_iso_time(to, t2),
               offpay__period_final(to, now) ? "final" : "NOT FINAL");
        if (s->n_currencies == 0)
            printf("no transfer dated until then\n");
        for (size_t i = 0; i < s->n_currencies; i++) {
            const offpay_sheet_currency *c = &s->currencies[i];

            printf("\n%s: %llu transfer(s) in the period\n",
                   offpay_currency_alpha(c->currency),
                   (unsigned long long)c->transfers);
            printf("  %-16s %16s %16s %16s %16s\n", "accounts", "opening", "in",
                   "out", "closing");
            for (int k = 0; k < 5; k++)
                printf(
                    "  %-16s %16s %16s %16s %16s\n", label[k],
                    cli_money(c->opening[k], c->currency, m[0], sizeof m[0]),
                    cli_money(c->in[k], c->currency, m[1], sizeof m[1]),
                    cli_money(c->out[k], c->currency, m[2], sizeof m[2]),
                    cli_money(c->closing[k], c->currency, m[3], sizeof m[3]));
            printf("  movements (transfers dated in the period, by kind):\n");
            for (size_t f = 0; f < s->n_flows; f++) {
                const offpay_sheet_flow *x = &s->flows[f];

                if (x->currency == c->currency)
                    printf(
                        "    %-9s %-9s -> %-9s %8llu  %s\n", x->kind,
                        offpay_account_kind_name(x->from),
                        offpay_account_kind_name(x->to),
                        (unsigned long long)x->count,
                        cli_money(x->amount, c->currency, m[0], sizeof m[0]));
            }
        }
        if (s->more)
            printf("\nmore currencies or movements than shown (--json says "
                   "\"truncated\")\n");
        print_not_final(to, now, "this balance sheet");
    }
    free(s);
    return status;
}

/* `admin guarantee`: the guarantee of --currency over [from, to], read
 * and rendered as GET /v1/admin/guarantee (src/settle/render.c): its
 * period by kind, what it owes now and to whom, and the loss to date on
 * each credential named. */
static int guarantee(offpay_ledger *l, const char *alpha, uint32_t from,
                     uint32_t to, uint32_t now, int json)
{
    const offpay_guarantee_period *p;
    offpay__guarantee              g;
    char       t1[32], t2[32], m1[64], m2[64], m3[64], m4[64], m5[64];
    offpay_err rc;
    int        status = EXIT_OK;

    memset(&g, 0, sizeof g);
    if (alpha == NULL)
        return cli_usage_error("admin guarantee: --currency CODE is "
                               "required (the guarantee's, such as EUR)");
    if (cli_currency(alpha, &g.currency) != 0)
        return EXIT_USAGE;
    if (from > to)
        return cli_usage_error("admin guarantee: --from is after --to "
                               "(both unix times, both included)");
    g.from = from;
    g.to = to;
    g.now = now;
    rc = offpay__guarantee_read(l, &g);
    if (rc != OFFPAY_OK) {
        status = cli_fail("guarantee", rc);
        goto out;
    }
    if (json) {
        status = cli_print_json(offpay__guarantee_json(&g), "guarantee");
        goto out;
    }
    p = &g.g;
    if (p->account == 0) {
        printf("no guarantee in %s: the ledger has none yet (POST "
               "/v1/admin/guarantee makes it, a deposit funds it); an "
               "overspend in %s is owed to its merchant until then\n",
               alpha, alpha);
        if (p->n_owed == 0)
            goto out;
    } else {
        printf("guarantee %s  account %llu  %s to %s\n", alpha,
               (unsigned long long)p->account, cli_iso_time(from, t1),
               cli_iso_time(to, t2));
    }
    print_not_final(to, now, "this view of the period");
    printf("opening balance %s before %s\n",
           cli_money(p->opening_balance, g.currency, m1, sizeof m1),
           cli_iso_time(from, t1));
    printf("movements: covered %s (%llu payment(s))  claims paid %s (%llu)  "
           "refunds back %s (%llu)  deposits %s  withdrawals %s",
           signed_money(p->covered, g.currency, m1, sizeof m1),
           (unsigned long long)p->n_covered,
           signed_money(p->claims_paid, g.currency, m2, sizeof m2),
           (unsigned long long)p->n_claims_paid,
           signed_money(p->refunds, g.currency, m3, sizeof m3),
           (unsigned long long)p->n_refunds,
           signed_money(p->deposits, g.currency, m4, sizeof m4),
           signed_money(p->withdrawals, g.currency, m5, sizeof m5));
    if (p->other != 0)
        printf("  other %s", signed_money(p->other, g.currency, m1, sizeof m1));
    printf("\n");
    for (size_t i = 0; i < g.n_moves; i++)
        print_transfer("movement", &g.moves[i], g.currency);
    if (g.moves_count > g.n_moves)
        printf("(%llu movements in all; the first %zu listed, the rest with "
               "'offpay admin transfers --account %llu --from %lu --to "
               "%lu')\n",
               (unsigned long long)g.moves_count, g.n_moves,
               (unsigned long long)p->account, (unsigned long)from,
               (unsigned long)to);
    printf("closing balance %s after %s%s\n",
           cli_money(p->closing_balance, g.currency, m1, sizeof m1),
           cli_iso_time(to, t1),
           offpay__period_final(to, now) ? "" : " (NOT FINAL)");
    printf("paid to merchants in the period, less refunds back: %s\n",
           cli_money(g.paid_out_net, g.currency, m1, sizeof m1));
    /* what the period closed owing, which a later deposit does not move */
    printf("owed at the period's end: %s in %llu claim(s)\n",
           cli_money(p->owed_at_close, g.currency, m1, sizeof m1),
           (unsigned long long)p->n_owed_at_close);
    printf("balance now %s\n",
           cli_money(p->balance, g.currency, m1, sizeof m1));
    if (p->n_owed == 0) {
        printf("owed now: nothing (no claim open)\n");
    } else {
        printf("owed now: %s in %llu open claim(s), paid oldest first as "
               "soon as the guarantee holds money (a deposit into it, or "
               "the release run)\n",
               cli_money(p->owed, g.currency, m1, sizeof m1),
               (unsigned long long)p->n_owed);
        for (size_t i = 0; i < g.n_claims; i++) {
            const offpay_open_claim *c = &g.claims[i];

            printf("claim  presentment %llu  uploaded %s  merchant %llu "
                   "\"%s\" (account %llu)  credential %llu  charged %s  "
                   "owed %s",
                   (unsigned long long)c->presentment,
                   cli_iso_time(c->uploaded_at, t1),
                   (unsigned long long)c->merchant, g.claim_names[i],
                   (unsigned long long)c->merchant_account,
                   (unsigned long long)c->serial,
                   cli_money(c->charged, g.currency, m1, sizeof m1),
                   cli_money(c->owed, g.currency, m2, sizeof m2));
            if (c->case_id != 0)
                printf("  case %llu", (unsigned long long)c->case_id);
            printf("\n");
        }
        if (p->n_owed > g.n_claims)
            printf("(the first %zu claims listed)\n", g.n_claims);
    }
    if (g.n_losses > 0)
        printf("the guarantee's loss to date on each credential above "
               "(covered + claims paid + owed - refunds back):\n");
    for (size_t i = 0; i < g.n_losses; i++) {
        const offpay_ledger_cred_info *c = &g.losses[i];

        printf("credential %llu  account %llu  covered %s  claims paid %s  "
               "owed %s  refunds back %s  net loss %s\n",
               (unsigned long long)c->serial,
               (unsigned long long)c->wallet_account,
               cli_money(c->covered, g.currency, m1, sizeof m1),
               cli_money(c->claimed, g.currency, m2, sizeof m2),
               cli_money(c->owed, g.currency, m3, sizeof m3),
               cli_money(c->refunded_to_guarantee, g.currency, m4, sizeof m4),
               cli_money(c->net_loss, g.currency, m5, sizeof m5));
    }
    if (g.losses_more)
        printf("(the first %zu credentials listed)\n", g.n_losses);
out:
    offpay__guarantee_free(&g);
    return status;
}

/* `admin statement`: the merchant statement of GET
 * /v1/admin/merchants/N/statement, read and rendered as offpayd does
 * (src/settle/render.c): its --json is that answer, field for field. */
static int statement_csv(offpay_ledger *l, offpay__statement *s);

static int statement(offpay_ledger *l, offpay__statement *s, int json, int csv)
{
    const offpay_statement_account *a = &s->acct;
    char       t1[32], t2[32], m1[64], m2[64], m3[64], m4[64], m5[64];
    char       hint[OFFPAY__STATEMENT_HINT_MAX];
    offpay_err rc;
    int        status = EXIT_OK;

    if (s->merchant == 0)
        return cli_usage_error("admin statement: --merchant N is required");
    if (s->from > s->to)
        return cli_usage_error("admin statement: --from is after --to "
                               "(both unix times, both included)");
    /* --terminal: this merchant's, else refused as offpayd refuses it */
    rc = s->terminal != 0
             ? offpay__statement_terminal(l, s->merchant, s->terminal, hint)
             : OFFPAY_OK;
    if (rc == OFFPAY_ENOTFOUND) {
        fprintf(stderr, "offpay: admin statement: %s (ENOTFOUND)\n", hint);
        status = EXIT_REJECTED;
        goto out;
    }
    if (rc == OFFPAY_OK && csv) {
        status = statement_csv(l, s);
        goto out;
    }
    if (rc == OFFPAY_OK)
        rc = offpay__statement_read(l, s);
    if (rc == OFFPAY_ENOTFOUND) {
        fprintf(stderr,
                "offpay: admin statement: no merchant %llu ('offpay admin "
                "merchants' lists them) (ENOTFOUND)\n",
                (unsigned long long)s->merchant);
        status = EXIT_REJECTED;
        goto out;
    }
    if (rc != OFFPAY_OK) {
        status = cli_fail("statement", rc);
        goto out;
    }
    if (json) {
        status = cli_print_json(offpay__statement_json(s), "statement");
        goto out;
    }
    printf("merchant %llu  account %llu  %s  payments uploaded %s to %s",
           (unsigned long long)s->merchant, (unsigned long long)a->account,
           offpay_currency_alpha(a->currency), cli_iso_time(s->from, t1),
           cli_iso_time(s->to, t2));
    if (s->terminal != 0)
        printf("  at terminal %u", (unsigned)s->terminal);
    printf("\n");
    print_not_final(s->to, s->now, "this statement");
    for (size_t i = 0; i < s->n; i++) {
        const offpay_statement_line *x = &s->lines[i];

        printf("presentment %llu  uploaded %s  accepted %s  terminal %u  "
               "credential %llu counter %u  charged %s  paid %s  %s",
               (unsigned long long)x->presentment,
               cli_iso_time(x->uploaded_at, t1),
               cli_iso_time(x->accepted_at, t2), (unsigned)x->terminal_id,
               (unsigned long long)x->serial, (unsigned)x->counter,
               cli_money(x->charged, a->currency, m1, sizeof m1),
               cli_money(x->paid, a->currency, m2, sizeof m2),
               offpay__outcome_name(x->outcome));
        if (x->reason != OFFPAY_OK)
            printf(" (%s)", offpay_errname(x->reason));
        if (x->late)
            printf("  LATE (after the escrow's release)");
        if (x->case_id != 0)
            printf("  case %llu", (unsigned long long)x->case_id);
        if (x->covered != 0)
            printf("  covered %s",
                   cli_money(x->covered, a->currency, m1, sizeof m1));
        /* these three are as of now, whenever the period (a final
         * period's lines keep their other figures) */
        if (x->refunded != 0)
            printf("  refunded %s to date",
                   cli_money(x->refunded, a->currency, m1, sizeof m1));
        if (x->paid_later != 0)
            printf("  paid later by the guarantee %s to date (last %s)",
                   cli_money(x->paid_later, a->currency, m1, sizeof m1),
                   cli_iso_time(x->paid_later_at, t1));
        if (offpay__line_owed(x) > 0)
            printf("  owed by the guarantee %s now, paid once it is funded",
                   cli_money(offpay__line_owed(x), a->currency, m1, sizeof m1));
        /* its outcome stays the one settlement gave; the money is all in */
        if (x->reason == OFFPAY_EFUNDS && x->paid_later > 0 &&
            x->charged - x->paid - x->paid_later <= 0)
            printf("  paid in full since");
        printf("\n");
    }
    printf("%llu payment(s): paid %s, of which the guarantee covered %s; "
           "refunded %s to date",
           (unsigned long long)s->count,
           cli_money(s->paid, a->currency, m1, sizeof m1),
           cli_money(s->covered, a->currency, m2, sizeof m2),
           cli_money(s->refunded, a->currency, m3, sizeof m3));
    if (s->after != 0)
        printf("; listed after presentment %llu", (unsigned long long)s->after);
    if (s->beyond > 0)
        printf("; the next page: --after %llu --to %lu",
               (unsigned long long)s->lines[s->n - 1].presentment,
               (unsigned long)s->to);
    printf("\n");
    /* where their charges went: they add up (since 0.28.0) */
    printf("charged %s: paid %s, paid later by the guarantee %s to date, "
           "owed by it %s now, not paid %s (refused on these lines, beyond "
           "the rules, or presented again)\n",
           cli_money(s->charged, a->currency, m1, sizeof m1),
           cli_money(s->paid, a->currency, m2, sizeof m2),
           cli_money(s->paid_later, a->currency, m3, sizeof m3),
           cli_money(s->owed, a->currency, m4, sizeof m4),
           cli_money(s->unpaid, a->currency, m5, sizeof m5));
    /* paid nothing: apart from the lines and their totals */
    if (s->refused_count > 0 && s->refused_not_issued == 0) {
        printf("refused: %llu payment(s) accepted by a terminal after its "
               "revocation, charged %s, paid nothing (ETERMINAL_REVOKED)%s\n",
               (unsigned long long)s->refused_count,
               cli_money(s->refused_charged, a->currency, m1, sizeof m1),
               s->refused_count > s->n_refusals ? "; the first listed" : "");
    } else if (s->refused_count > 0) {
        /* a credential the ledger did not issue (since 0.28.0): after a
         * restore, one issued after the backup (docs/operations.md §5) */
        printf("refused: %llu payment(s) taken at the merchant's terminals "
               "that nothing pays, charged %s: %llu of a credential the "
               "ledger did not issue (ENOT_ISSUED), %llu accepted by a "
               "terminal after its revocation (ETERMINAL_REVOKED)%s\n",
               (unsigned long long)s->refused_count,
               cli_money(s->refused_charged, a->currency, m1, sizeof m1),
               (unsigned long long)s->refused_not_issued,
               (unsigned long long)(s->refused_count - s->refused_not_issued),
               s->refused_count > s->n_refusals ? "; the first listed" : "");
    }
    if (s->refused_count > 0) {
        for (size_t i = 0; i < s->n_refusals; i++) {
            const offpay_refusal *f = &s->refusals[i];

            printf("refused  uploaded %s  accepted %s  terminal %u  "
                   "credential %llu counter %u  charged %s  (%s)\n",
                   cli_iso_time(f->uploaded_at, t1),
                   cli_iso_time(f->accepted_at, t2), (unsigned)f->terminal_id,
                   (unsigned long long)f->serial, (unsigned)f->counter,
                   cli_money(f->charged, a->currency, m1, sizeof m1),
                   offpay_errname(f->reason));
        }
    }
    printf("balance now %s\n",
           cli_money(a->balance, a->currency, m1, sizeof m1));
    /* the period's movements, by each transfer's own time */
    /* both ends are included: before the first second, after the last */
    printf("opening balance %s before %s\n",
           cli_money(a->opening_balance, a->currency, m1, sizeof m1),
           cli_iso_time(s->from, t1));
    /* a statement of one terminal: its lines, the account's movements */
    print_sums(s->terminal != 0 ? "movements (the account's, all terminals)"
                                : "movements",
               a, a->currency);
    for (size_t i = 0; i < s->n_moves; i++)
        print_transfer("movement", &s->moves[i], a->currency);
    printf("closing balance %s after %s%s\n",
           cli_money(a->closing_balance, a->currency, m1, sizeof m1),
           cli_iso_time(s->to, t1),
           offpay__period_final(s->to, s->now) ? "" : " (NOT FINAL)");
    printf("%llu movement(s) besides payments",
           (unsigned long long)s->moves_count);
    if (s->moves_count > s->n_moves)
        printf("; %zu listed, the rest with 'offpay admin transfers "
               "--account %llu'",
               s->n_moves, (unsigned long long)a->account);
    printf("\n");
out:
    offpay__statement_free(s);
    return status;
}

/* A time as the --json outputs give it: ISO 8601, or null for 0. */
static json_t *iso_or_null(uint32_t t)
{
    char at[32];

    return t != 0 ? json_string(cli_iso_time(t, at)) : json_null();
}

/* `admin merchants`: the merchants, a page at a time, with their accounts,
 * balances and terminals (settle.h, offpay_ledger_merchants). */
static int merchants(offpay_ledger *l, const admin_args *a)
{
    offpay_merchant_info *v = NULL;
    size_t                n = 0;
    char                  when[32];
    offpay_err            rc;

    rc = offpay_ledger_merchants(l, a->f.after_id, (size_t)a->limit, &v, &n);
    if (rc != OFFPAY_OK)
        return cli_fail("merchants", rc);
    if (a->json) {
        json_t  *arr = json_array();
        uint64_t last;

        for (size_t i = 0; arr != NULL && i < n; i++) {
            cli_iso_time(v[i].created_at, when);
            json_array_append_new(
                arr,
                json_pack("{s:o, s:s, s:s, s:o, s:o, s:s, s:I, s:I, s:o}",
                          "merchant", cli_json_u64(v[i].id), "name", v[i].name,
                          "currency", offpay_currency_alpha(v[i].currency),
                          "account", cli_json_u64(v[i].account), "balance",
                          decimal_json(v[i].balance, v[i].currency),
                          "created_at", when, "terminals",
                          (json_int_t)v[i].terminals, "terminals_active",
                          (json_int_t)v[i].terminals_active, "closed_at",
                          iso_or_null(v[i].closed_at)));
        }
        last = n > 0 ? v[n - 1].id : 0;
        free(v);
        return page_json(arr, "merchants", n, a->limit, last);
    }
    for (size_t i = 0; i < n; i++) {
        char money[64];

        char closed[48] = "";

        cli_iso_time(v[i].created_at, when);
        if (v[i].closed_at != 0) {
            char at[32];

            cli_iso_time(v[i].closed_at, at);
            snprintf(closed, sizeof closed, "  CLOSED %s", at);
        }
        /* the name last: it may hold spaces */
        printf("merchant %llu  %s  account %llu  balance %s  terminals %u "
               "(%u active)  since %s%s  %s\n",
               (unsigned long long)v[i].id,
               offpay_currency_alpha(v[i].currency),
               (unsigned long long)v[i].account,
               cli_money(v[i].balance, v[i].currency, money, sizeof money),
               (unsigned)v[i].terminals, (unsigned)v[i].terminals_active, when,
               closed, v[i].name);
    }
    page_end(n, a->limit, n > 0 ? v[n - 1].id : 0, "merchant");
    free(v);
    return EXIT_OK;
}

/* Every registered terminal's entry (of merchant only, unless 0),
 * ascending by id, into *all (malloc'd, free() it; NULL when none) and *n:
 * offpay_ledger_terminals a page at a time (OFFPAY_ENOTFOUND: no such
 * merchant). */
static offpay_err terminal_entries(offpay_ledger *l, uint64_t merchant,
                                   offpay_ledger_terminal_entry **all,
                                   size_t                        *n)
{
    offpay_ledger_terminal_entry *page = NULL, *grown;
    size_t                        got = 0;
    uint32_t                      after = 0;
    offpay_err                    rc;

    *all = NULL;
    *n = 0;
    do {
        rc = offpay_ledger_terminals(l, merchant, after,
                                     OFFPAY_LEDGER_TERMINALS_MAX, &page, &got);
        if (rc == OFFPAY_OK && got > 0) {
            grown = realloc(*all, (*n + got) * sizeof **all);
            if (grown == NULL) {
                rc = OFFPAY_ENOMEM;
            } else {
                *all = grown;
                memcpy(*all + *n, page, got * sizeof *page);
                *n += got;
                after = page[got - 1].terminal_id;
            }
        }
        free(page);
        page = NULL;
    } while (rc == OFFPAY_OK && got == OFFPAY_LEDGER_TERMINALS_MAX);
    if (rc != OFFPAY_OK) {
        free(*all);
        *all = NULL;
        *n = 0;
    }
    return rc;
}

/* The kid that signed terminal id's credential among all[0..n) (by id),
 * or -1 (no such terminal, or the ledger holds no credential for it). */
static int32_t terminal_kid(const offpay_ledger_terminal_entry *all, size_t n,
                            uint32_t id)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (all[mid].terminal_id == id)
            return all[mid].kid;
        if (all[mid].terminal_id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* Why a live terminal wants a look (`admin terminals --stale HOURS`):
 * bits. */
#define HEED_NEVER    0x1u /* registered more than HOURS ago, never reported */
#define HEED_SILENT   0x2u /* no report for more than HOURS */
#define HEED_REFUSING 0x4u /* its last report says it refuses payments */
#define HEED_LISTS    0x8u /* its lists are more than HOURS old */
/* its clock behind offpayd's beyond a terminal's default skew: it refuses
 * offpayd's lists (EFUTURE_DATED), and will refuse payments when its
 * offline window ends; ahead of it: its payments are left undecided */
#define HEED_CLOCK_BEHIND 0x10u
#define HEED_CLOCK_AHEAD  0x20u
#define HEED_SKEW         OFFPAY__CLOCK_OFF_MAX

static unsigned heed(const offpay_overview_terminal *t, uint32_t now,
                     uint64_t quiet)
{
    const offpay_terminal_report *rp = &t->report;
    uint32_t lists = offpay_terminal_report_lists_time(rp, t->created_at);
    unsigned why = 0;

    if (t->revoked)
        return 0;
    if (!rp->reported)
        return now > t->created_at && now - t->created_at > quiet ? HEED_NEVER
                                                                  : 0;
    if (now > rp->reported_at && now - rp->reported_at > quiet)
        why |= HEED_SILENT;
    if (rp->state_known && strcmp(rp->state, "OK") != 0)
        why |= HEED_REFUSING;
    if (lists != 0 && now > lists && now - lists > quiet)
        why |= HEED_LISTS;
    if (rp->reported_at > rp->synced_at + HEED_SKEW)
        why |= HEED_CLOCK_BEHIND;
    else if (rp->synced_at > rp->reported_at + HEED_SKEW)
        why |= HEED_CLOCK_AHEAD;
    return why;
}

/* --json's "attention": each bit's name, in this order */
static const struct {
    unsigned    bit;
    const char *name;
} heed_names[] = {
    {HEED_NEVER, "never_reported"},      {HEED_SILENT, "silent"},
    {HEED_REFUSING, "refusing"},         {HEED_LISTS, "old_lists"},
    {HEED_CLOCK_BEHIND, "clock_behind"}, {HEED_CLOCK_AHEAD, "clock_ahead"},
};

static json_t *attention_json(unsigned why)
{
    json_t *a = json_array();

    for (size_t i = 0; i < sizeof heed_names / sizeof heed_names[0]; i++)
        if (why & heed_names[i].bit)
            json_array_append_new(a, json_string(heed_names[i].name));
    return a;
}

/* What terminal t's last sync reported, a line or two. */
static void terminal_report_lines(const offpay_overview_terminal *t)
{
    const offpay_terminal_report *rp = &t->report;
    char                          ra[32], sa[32], la[32], money[48];

    if (!rp->reported) {
        if (!t->revoked) /* said, not left out: it is what to look at */
            printf("  never reported (no online sync yet)\n");
        return;
    }
    /* pending: what it held not uploaded, or not decided by offpayd (a
     * payment dated ahead of offpayd's clock) */
    printf("  last sync reported at %s (its clock %s",
           cli_iso_time(rp->reported_at, ra), cli_iso_time(rp->synced_at, sa));
    /* beyond a terminal's default skew: its sync warned of it */
    if (rp->synced_at > rp->reported_at + HEED_SKEW)
        printf(", %lu s ahead of offpayd's",
               (unsigned long)(rp->synced_at - rp->reported_at));
    else if (rp->reported_at > rp->synced_at + HEED_SKEW)
        printf(", %lu s behind offpayd's",
               (unsigned long)(rp->reported_at - rp->synced_at));
    printf("): %llu payment(s) pending", (unsigned long long)rp->pending);
    if (!rp->state_known) { /* a terminal before 0.27.0 */
        printf("\n");
        return;
    }
    printf(" (%s)\n",
           cli_money(rp->pending_amount, t->currency, money, sizeof money));
    if (strcmp(rp->state, "OK") == 0)
        printf("  accepting payments then");
    else {
        const char *m = message_of(rp->state);

        printf("  REFUSING payments then: %s%s%s", rp->state,
               m != NULL ? ": " : "", m != NULL ? m : "");
    }
    if (rp->lists_at == 0)
        printf("; it never took offpayd's lists\n");
    else /* a clock ahead records its sync at offpayd's time */
        printf("; lists taken at %s by %s\n", cli_iso_time(rp->lists_at, la),
               rp->synced_at > rp->reported_at + HEED_SKEW
                   ? "offpayd's clock (its own ran ahead)"
                   : "its clock");
}

/* Why t is listed by `--stale`, a line. */
static void attention_line(const offpay_overview_terminal *t, unsigned why,
                           uint32_t now)
{
    const char *sep = " ";
    char        when[32];

    printf("  needs a look:");
    if (why & HEED_NEVER) {
        printf("%snever reported since it was registered %s", sep,
               cli_iso_time(t->created_at, when));
        sep = "; ";
    }
    if (why & HEED_SILENT) {
        printf("%ssilent since %s", sep,
               cli_iso_time(t->report.reported_at, when));
        sep = "; ";
    }
    if (why & HEED_REFUSING) {
        printf("%sit refuses payments (%s)", sep, t->report.state);
        sep = "; ";
    }
    if (why & HEED_LISTS) {
        uint32_t lists =
            offpay_terminal_report_lists_time(&t->report, t->created_at);

        /* its age as the terminal counts it (its clock's own steps) */
        if (t->report.lists_at == 0)
            printf("%sit never took offpayd's lists", sep);
        else
            printf("%sits lists are %s h old", sep,
                   cli_hours(now > lists ? now - lists : 0, when));
        sep = "; ";
    }
    /* what to do, not only what is seen: a sync alone fails again */
    if (why & HEED_CLOCK_BEHIND)
        printf("%sits clock is %lu s behind offpayd's, so it refuses "
               "offpayd's lists (EFUTURE_DATED): set its clock right (NTP), "
               "then sync it",
               sep,
               (unsigned long)(t->report.reported_at - t->report.synced_at));
    if (why & HEED_CLOCK_AHEAD)
        printf("%sits clock is %lu s ahead of offpayd's, so offpayd leaves "
               "the payments it dates ahead undecided: set its clock right "
               "(NTP)",
               sep,
               (unsigned long)(t->report.synced_at - t->report.reported_at));
    printf("\n");
}

/* Terminal e as the overview o shows it, into *v: its uploads from o's
 * row when o holds one (1), else none counted (0). */
static int view_of(const offpay_ledger_terminal_entry *e,
                   const offpay_overview *o, offpay_overview_terminal *v)
{
    memset(v, 0, sizeof *v);
    v->terminal_id = e->terminal_id;
    v->merchant_id = e->merchant_id;
    memcpy(v->merchant_name, e->merchant_name, sizeof v->merchant_name);
    v->currency = e->currency;
    v->created_at = e->created_at;
    v->revoked = e->state != OFFPAY_TERMINAL_ACTIVE;
    v->revoked_at = e->revoked_at;
    memcpy(v->revoke_reason, e->revoke_reason, sizeof v->revoke_reason);
    v->report = e->report;
    memcpy(v->label, e->label, sizeof v->label);
    for (size_t i = 0; i < o->n_terminals; i++)
        if (o->terminals[i].terminal_id == e->terminal_id) {
            v->presentments = o->terminals[i].presentments;
            v->last_upload = o->terminals[i].last_upload;
            return 1;
        }
    return 0;
}

/* `admin terminals`: every terminal (live ones first, each by id), of
 * merchant only when not 0, with what the dashboard shows of it
 * (offpay_ledger_overview), its last report included: a lost terminal's
 * id, to revoke it, and what it still held at its last sync. */
static int terminals(offpay_ledger *l, uint64_t merchant, uint64_t stale_hours,
                     int json)
{
    offpay_overview              *o = NULL;
    offpay_ledger_terminal_entry *all = NULL;
    size_t                        n_all = 0;
    json_t                       *arr = NULL;
    char                          c[32], r[32], u[32];
    uint32_t                      now = cli_now();
    size_t                        listed = 0;
    offpay_err rc = offpay_ledger_overview(l, now, 86400, now, &o);

    /* the issuer key of each one's credential, from the directory's list */
    if (rc == OFFPAY_OK)
        rc = terminal_entries(l, 0, &all, &n_all);
    /* a merchant with no terminals lists none; no such merchant is said
     * (as GET /v1/admin/terminals?merchant= answers 404) */
    if (rc == OFFPAY_OK && merchant != 0) {
        offpay_ledger_terminal_entry *v = NULL;
        size_t                        n = 0;

        rc = offpay_ledger_terminals(l, merchant, 0, 1, &v, &n);
        free(v);
        if (rc == OFFPAY_ENOTFOUND) {
            offpay_overview_free(o);
            free(all);
            fprintf(stderr,
                    "offpay: admin terminals: no merchant %llu (ENOTFOUND; "
                    "'offpay admin merchants' lists them)\n",
                    (unsigned long long)merchant);
            return EXIT_REJECTED;
        }
    }
    if (rc != OFFPAY_OK) {
        offpay_overview_free(o);
        free(all);
        return cli_fail("terminals", rc);
    }
    if (json)
        arr = json_array();
    /* --stale: every terminal, from the directory's whole list (the
     * overview holds the first OFFPAY_OVERVIEW_TERMINALS_MAX only, and a
     * fleet's gates past them want a look as much) */
    for (size_t i = 0; i < (stale_hours != 0 ? n_all : o->n_terminals); i++) {
        offpay_overview_terminal        view;
        const offpay_overview_terminal *t = &view;
        int                             counted = 1;
        int32_t                         kid;
        char                            key[16], n_up[24];
        unsigned                        why = 0;

        if (stale_hours != 0) {
            counted = view_of(&all[i], o, &view);
            kid = all[i].kid;
            why = heed(t, now, stale_hours * 3600);
        } else {
            t = &o->terminals[i];
            kid = terminal_kid(all, n_all, t->terminal_id);
        }

        if (merchant != 0 && t->merchant_id != merchant)
            continue;
        if (stale_hours != 0 && why == 0)
            continue;
        listed++;
        if (kid >= 0)
            snprintf(key, sizeof key, "%ld", (long)kid);
        else
            snprintf(key, sizeof key, "-");
        cli_iso_time(t->created_at, c);
        if (t->revoked)
            cli_iso_time(t->revoked_at, r);
        if (t->last_upload != 0)
            cli_iso_time(t->last_upload, u);
        if (json) {
            json_array_append_new(
                arr,
                json_pack(
                    "{s:I, s:o, s:o, s:s, s:s, s:o, s:s, s:o, s:o, s:o, s:o, "
                    "s:o, s:o}",
                    "terminal", (json_int_t)t->terminal_id, "label",
                    t->label[0] != '\0' ? json_string(t->label) : json_null(),
                    "merchant", cli_json_u64(t->merchant_id), "merchant_name",
                    t->merchant_name, "currency",
                    offpay_currency_alpha(t->currency), "kid",
                    kid >= 0 ? json_integer((json_int_t)kid) : json_null(),
                    "created_at", c, "revoked_at",
                    t->revoked ? json_string(r) : json_null(), "revoke_reason",
                    t->revoked && t->revoke_reason[0] != '\0'
                        ? json_string(t->revoke_reason)
                        : json_null(),
                    "presentments",
                    counted ? json_integer((json_int_t)t->presentments)
                            : json_null(),
                    "last_upload",
                    t->last_upload != 0 ? json_string(u) : json_null(),
                    "report", report_json(&t->report, t->currency), "attention",
                    stale_hours != 0 ? attention_json(why) : json_null()));
            continue;
        }
        /* the merchant's name last: it may hold spaces */
        /* key: the issuer key that signed its credential ('admin keys'
         * says what each signed), "-" when the ledger holds none */
        /* "-": past the overview's first terminals, not counted */
        if (counted)
            snprintf(n_up, sizeof n_up, "%llu",
                     (unsigned long long)t->presentments);
        else
            snprintf(n_up, sizeof n_up, "-");
        printf("terminal %u  merchant %llu  since %s  %s  key %s  payments "
               "%s  last upload %s  %s\n",
               (unsigned)t->terminal_id, (unsigned long long)t->merchant_id, c,
               t->revoked ? "REVOKED" : "active", key, n_up,
               t->last_upload != 0 ? u : (counted ? "never" : "-"),
               t->merchant_name);
        if (t->label[0] != '\0')
            printf("  label \"%s\"\n", t->label);
        if (t->revoked) {
            if (t->revoke_reason[0] != '\0')
                printf("  revoked at %s (reason \"%s\")\n", r,
                       t->revoke_reason);
            else /* revoked before the ledger kept reasons (0.18.0) */
                printf("  revoked at %s (no reason kept)\n", r);
        }
        terminal_report_lines(t);
        if (why != 0)
            attention_line(t, why, now);
    }
    if (!json && stale_hours != 0 && listed == 0)
        printf("no terminal needs a look (none silent, refusing, with its "
               "clock off or lists over %llu h old)\n",
               (unsigned long long)stale_hours);
    if (o->terminals_more && stale_hours == 0)
        fprintf(stderr,
                "offpay: admin terminals: the ledger holds more "
                "than the %u terminals listed (live ones first): those "
                "past them are left out here; --stale HOURS looks at every "
                "one, and GET /v1/admin/terminals pages through them all\n",
                OFFPAY_OVERVIEW_TERMINALS_MAX);
    offpay_overview_free(o);
    free(all);
    if (json)
        return cli_print_json(json_pack("{s:o}", "terminals", arr),
                              "admin terminals");
    return EXIT_OK;
}

/* Most days `admin report --by-day` reports at once. */
#define REPORT_DAYS_MAX 366u
/* `admin report`'s forms besides the text: --json, --csv. */
#define REPORT_JSON 1
#define REPORT_CSV  2

struct report_text {
    offpay__report_total totals[OFFPAY__REPORT_CURRENCIES];
    size_t               n;
};

/* A row's or a total's two lines of `admin report`: head, the payments
 * (sums: charged, paid, covered, owed, paid later, refunded, not paid), then
 * acct_head and the accounts (acct: opening, settled, refunds, deposits,
 * withdrawals, other, closing). */
static void report_lines(const char *head, const char *acct_head, uint16_t cur,
                         const uint64_t counts[3], const int64_t sums[7],
                         const int64_t acct[7])
{
    char m[7][OFFPAY_AMOUNT_TEXT_MAX + 8];

    printf("%s%llu payment(s) (%llu refused, %llu late): charged %s  paid "
           "%s  covered by the guarantee %s  owed by the guarantee now %s  "
           "paid later to date %s  refunded to date %s  not paid on these "
           "lines (refused, beyond the rules, or presented again) %s\n",
           head, (unsigned long long)counts[0], (unsigned long long)counts[1],
           (unsigned long long)counts[2],
           cli_money(sums[0], cur, m[0], sizeof m[0]),
           cli_money(sums[1], cur, m[1], sizeof m[1]),
           cli_money(sums[2], cur, m[2], sizeof m[2]),
           cli_money(sums[3], cur, m[3], sizeof m[3]),
           cli_money(sums[4], cur, m[4], sizeof m[4]),
           cli_money(sums[5], cur, m[5], sizeof m[5]),
           cli_money(sums[6], cur, m[6], sizeof m[6]));
    printf("%sopening %s  settled %s  refunds %s  deposits %s  withdrawals "
           "%s  other %s  closing %s\n",
           acct_head, cli_money(acct[0], cur, m[0], sizeof m[0]),
           signed_money(acct[1], cur, m[1], sizeof m[1]),
           signed_money(acct[2], cur, m[2], sizeof m[2]),
           signed_money(acct[3], cur, m[3], sizeof m[3]),
           signed_money(acct[4], cur, m[4], sizeof m[4]),
           signed_money(acct[5], cur, m[5], sizeof m[5]),
           cli_money(acct[6], cur, m[6], sizeof m[6]));
}

/* One merchant's row of `admin report`, on two lines. */
static offpay_err report_row(const offpay__report_row *r, void *p)
{
    struct report_text             *c = p;
    const offpay_statement_account *a = &r->acct;
    const uint64_t counts[] = {r->payments, r->rejected, r->late};
    char           head[OFFPAY_NAME_MAX + 64], acct_head[48];

    offpay_err rc = offpay__report_total_add(c->totals, &c->n,
                                             OFFPAY__REPORT_CURRENCIES, r);

    if (rc != OFFPAY_OK)
        return rc;
    snprintf(head, sizeof head, "merchant %llu \"%s\" %s  ",
             (unsigned long long)r->merchant, r->name,
             offpay_currency_alpha(r->currency));
    snprintf(acct_head, sizeof acct_head,
             "  account %llu: ", (unsigned long long)a->account);
    report_lines(head, acct_head, r->currency, counts,
                 (const int64_t[]){r->charged, r->paid, r->covered, r->owed,
                                   r->paid_later, r->refunded, r->unpaid},
                 (const int64_t[]){a->opening_balance, a->settled, a->refunds,
                                   a->deposits, a->withdrawals, a->other,
                                   a->closing_balance});
    return OFFPAY_OK;
}

/* `admin report` of one period, as text: a row per merchant, then each
 * currency's totals. */
static int report_text(offpay_ledger *l, uint32_t from, uint32_t to,
                       uint32_t now)
{
    struct report_text *c = calloc(1, sizeof *c);
    char                t1[32], t2[32], head[64];
    uint64_t            last;
    int                 more;
    offpay_err          rc;

    if (c == NULL)
        return cli_fail("report", OFFPAY_ENOMEM);
    printf("report %s .. %s (both included): ", cli_iso_time(from, t1),
           cli_iso_time(to, t2));
    if (offpay__period_final(to, now))
        printf("final (what is owed, paid later and refunded of its "
               "payments is as of now: it moves on)\n");
    else
        printf("NOT FINAL: payments may still be uploaded into it; final "
               "from %s\n",
               cli_iso_time(to + OFFPAY__PERIOD_FINAL_AFTER + 1, t1));
    rc = offpay__report_walk(l, from, to, 0, UINT64_MAX, report_row, c, &last,
                             &more);
    if (rc != OFFPAY_OK) {
        free(c);
        return cli_fail("report", rc);
    }
    for (size_t i = 0; i < c->n; i++) {
        const offpay__report_total *x = &c->totals[i];
        const uint64_t counts[] = {x->payments, x->rejected, x->late};

        snprintf(head, sizeof head, "total %s, %llu merchant(s): ",
                 offpay_currency_alpha(x->currency),
                 (unsigned long long)x->merchants);
        report_lines(head, "  merchants' accounts: ", x->currency, counts,
                     (const int64_t[]){x->charged, x->paid, x->covered, x->owed,
                                       x->paid_later, x->refunded, x->unpaid},
                     (const int64_t[]){x->opening_balance, x->settled,
                                       x->refunds, x->deposits, x->withdrawals,
                                       x->other, x->closing_balance});
    }
    if (c->n == 0)
        printf("no merchant\n");
    free(c);
    return EXIT_OK;
}

/* text as one CSV field (RFC 4180): always quoted, quotes doubled, and a
 * text a spreadsheet would run as a formula (=, +, -, @ first) kept as
 * text by a leading apostrophe. */
static void csv_text_to(FILE *f, const char *text)
{
    fputc('"', f);
    if (strchr("=+-@", text[0]) != NULL && text[0] != '\0')
        fputc('\'', f);
    for (const char *p = text; *p != '\0'; p++) {
        if (*p == '"')
            fputc('"', f);
        fputc(*p, f);
    }
    fputc('"', f);
}

/* The CSV columns of `admin report --csv`: the period, the merchant, its
 * payments' figures and its account's, as the text's two lines. */
static const char report_csv_head[] =
    "from,to,final,merchant,name,currency,payments,refused,late,charged,"
    "paid,covered,owed_now,paid_later_to_date,refunded_to_date,account,"
    "opening,settled,refunds,deposits,withdrawals,other,closing,unpaid,"
    "read_at\r\n";

struct report_csv {
    uint32_t from, to, now;
    FILE    *f; /* where the rows go */
};

/* One merchant's row of `admin report --csv`; amounts in the currency's
 * decimal form, times as ISO 8601 UTC. */
static offpay_err report_csv_row(const offpay__report_row *r, void *p)
{
    const struct report_csv        *c = p;
    const offpay_statement_account *a = &r->acct;
    const int64_t                   money[] = {
                          r->charged,         r->paid,     r->covered,         r->owed,
                          r->paid_later,      r->refunded, a->opening_balance, a->settled,
                          a->refunds,         a->deposits, a->withdrawals,     a->other,
                          a->closing_balance, r->unpaid};
    char t1[32], t2[32], m[OFFPAY_AMOUNT_TEXT_MAX];

    fprintf(c->f, "%s,%s,%s,%llu,", cli_iso_time(c->from, t1),
            cli_iso_time(c->to, t2),
            offpay__period_final(c->to, c->now) ? "true" : "false",
            (unsigned long long)r->merchant);
    csv_text_to(c->f, r->name);
    fprintf(c->f, ",%s,%llu,%llu,%llu", offpay_currency_alpha(r->currency),
            (unsigned long long)r->payments, (unsigned long long)r->rejected,
            (unsigned long long)r->late);
    for (size_t i = 0; i < sizeof money / sizeof money[0]; i++) {
        if (offpay_amount_format(money[i], r->currency, m, sizeof m) !=
            OFFPAY_OK)
            return OFFPAY_ERANGE;
        if (i == 6)
            fprintf(c->f, ",%llu", (unsigned long long)a->account);
        fprintf(c->f, ",%s", m);
    }
    /* when the figures "to date" and "now" were read */
    fprintf(c->f, ",%s\r\n", cli_iso_time(c->now, t1));
    return OFFPAY_OK;
}

/* The CSV columns of `admin statement --csv`: one row per payment a
 * terminal of the merchant took and uploaded in the period, the refused
 * ones too (outcome "refused", no presentment). */
static const char statement_csv_head[] =
    "presentment,uploaded_at,accepted_at,terminal,label,credential,counter,"
    "outcome,reason,late,case,currency,charged,paid,covered,"
    "paid_later_to_date,owed_now,unpaid,refunded_to_date,read_at,final\r\n";

/* The merchant's terminals' labels, by id (ascending), for the rows. */
struct csv_labels {
    FILE                         *f; /* where the rows go */
    offpay_ledger_terminal_entry *v;
    size_t                        n;
    uint32_t                      now;   /* read at */
    int                           final; /* the period is final then */
    uint16_t                      currency;
    uint32_t                      terminal; /* 0: every terminal */
    offpay_err                    rc;
};

static const char *csv_label(const struct csv_labels *c, uint32_t id)
{
    size_t lo = 0, hi = c->n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (c->v[mid].terminal_id == id)
            return c->v[mid].label;
        if (c->v[mid].terminal_id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return "";
}

/* One row: the money in the currency's decimal form, times ISO 8601. */
static offpay_err csv_payment_row(const struct csv_labels *c, uint64_t pres,
                                  uint32_t up, uint32_t acc, uint32_t term,
                                  uint64_t serial, uint32_t counter,
                                  const char *outcome, offpay_err reason,
                                  int late, uint64_t case_id,
                                  const int64_t money[7])
{
    char t1[32], t2[32], m[OFFPAY_AMOUNT_TEXT_MAX];

    if (pres != 0)
        fprintf(c->f, "%llu", (unsigned long long)pres);
    fprintf(c->f, ",%s,%s,%u,", cli_iso_time(up, t1), cli_iso_time(acc, t2),
            (unsigned)term);
    csv_text_to(c->f, csv_label(c, term));
    fprintf(c->f, ",%llu,%u,%s,%s,%s,", (unsigned long long)serial,
            (unsigned)counter, outcome,
            reason != OFFPAY_OK ? offpay_errname(reason) : "",
            late ? "true" : "false");
    if (case_id != 0)
        fprintf(c->f, "%llu", (unsigned long long)case_id);
    fprintf(c->f, ",%s", offpay_currency_alpha(c->currency));
    for (size_t i = 0; i < 7; i++) {
        if (offpay_amount_format(money[i], c->currency, m, sizeof m) !=
            OFFPAY_OK)
            return OFFPAY_ERANGE;
        fprintf(c->f, ",%s", m);
    }
    fprintf(c->f, ",%s,%s\r\n", cli_iso_time(c->now, t1),
            c->final ? "true" : "false");
    return OFFPAY_OK;
}

static int csv_refusal(const offpay_refusal *f, void *p)
{
    struct csv_labels *c = p;
    const int64_t      money[7] = {f->charged, 0, 0, 0, 0, f->charged, 0};

    if (c->terminal != 0 && f->terminal_id != c->terminal)
        return 0;
    c->rc = csv_payment_row(c, 0, f->uploaded_at, f->accepted_at,
                            f->terminal_id, f->serial, f->counter, "refused",
                            f->reason, 0, 0, money);
    return c->rc != OFFPAY_OK;
}

/* A statement line of `admin statement --csv` (offpay_ledger_statement
 * period's callback): its row, unless of another terminal or at or below
 * --after. */
struct csv_lines {
    struct csv_labels              *c;
    const offpay_statement_account *acct; /* its currency set before */
    uint32_t                        terminal;
    uint64_t                        after;
    offpay_err                      rc;
};

static int csv_line(const offpay_statement_line *x, void *p)
{
    struct csv_lines *k = p;
    int64_t           owed = offpay__line_owed(x), money[7];

    if ((k->terminal != 0 && x->terminal_id != k->terminal) ||
        x->presentment <= k->after)
        return 0;
    money[0] = x->charged;
    money[1] = x->paid;
    money[2] = x->covered;
    money[3] = x->paid_later;
    money[4] = owed;
    money[5] = x->charged - x->paid - x->paid_later - owed;
    money[6] = x->refunded;
    k->c->currency = k->acct->currency;
    k->rc = csv_payment_row(k->c, x->presentment, x->uploaded_at,
                            x->accepted_at, x->terminal_id, x->serial,
                            x->counter, offpay__outcome_name(x->outcome),
                            x->reason, x->late, x->case_id, money);
    return k->rc != OFFPAY_OK;
}

/* `admin statement --csv`: every payment of the period in one read of the
 * ledger (no page), then the refused ones (not again with --after, which
 * continues the payments only). The rows are written to memory first:
 * a read that fails half way prints nothing but the error, so that an
 * import never takes part of a month for all of it. The account's
 * movements are `admin transfers --account A --from --to`'s. */
static int statement_csv(offpay_ledger *l, offpay__statement *s)
{
    struct csv_labels        c;
    struct csv_lines         k;
    offpay_statement_account acct;
    offpay_err               rc;
    char                    *buf = NULL;
    size_t                   len = 0;
    FILE                    *mem;

    memset(&c, 0, sizeof c);
    c.terminal = s->terminal;
    c.now = s->now;
    c.final = offpay__period_final(s->to, s->now);
    /* the labels of the merchant's terminals */
    rc = terminal_entries(l, s->merchant, &c.v, &c.n);
    mem = rc == OFFPAY_OK ? open_memstream(&buf, &len) : NULL;
    if (rc == OFFPAY_OK && mem == NULL)
        rc = OFFPAY_ENOMEM;
    if (rc == OFFPAY_OK) {
        c.f = mem;
        fputs(statement_csv_head, mem);
        memset(&k, 0, sizeof k);
        memset(&acct, 0, sizeof acct);
        k.c = &c;
        k.acct = &acct;
        k.terminal = s->terminal;
        k.after = s->after;
        rc = offpay_ledger_statement_period(l, s->merchant, s->from, s->to,
                                            csv_line, NULL, &k, &acct);
        if (rc == OFFPAY_OK && k.rc != OFFPAY_OK)
            rc = k.rc;
        c.currency = acct.currency;
        if (rc == OFFPAY_OK && s->after == 0) {
            c.rc = OFFPAY_OK;
            rc = offpay_ledger_refusals(l, s->merchant, s->from, s->to,
                                        csv_refusal, &c);
            if (c.rc != OFFPAY_OK)
                rc = c.rc;
        }
        if (ferror(mem) && rc == OFFPAY_OK)
            rc = OFFPAY_ENOMEM;
        if (fclose(mem) != 0 && rc == OFFPAY_OK)
            rc = OFFPAY_ENOMEM;
    }
    free(c.v);
    if (rc == OFFPAY_ENOTFOUND) {
        free(buf);
        fprintf(stderr,
                "offpay: admin statement: no merchant %llu ('offpay admin "
                "merchants' lists them) (ENOTFOUND)\n",
                (unsigned long long)s->merchant);
        return EXIT_REJECTED;
    }
    if (rc != OFFPAY_OK) {
        free(buf);
        return cli_fail("statement", rc);
    }
    fwrite(buf, 1, len, stdout);
    free(buf);
    /* an import of a period not final yet may miss payments for good */
    if (!c.final) {
        char t1[32];

        fprintf(stderr,
                "offpay: admin statement: NOT FINAL: payments dated up to "
                "the period's end may still be booked until %u s after it "
                "(the rows say final false); read it again from %s on\n",
                (unsigned)OFFPAY__PERIOD_FINAL_AFTER,
                s->to > UINT32_MAX - OFFPAY__PERIOD_FINAL_AFTER - 1
                    ? "its end"
                    : cli_iso_time(s->to + OFFPAY__PERIOD_FINAL_AFTER + 1, t1));
    }
    return EXIT_OK;
}

/* --tz ZONE: the process's zone for localtime_r and mktime; 0 when the
 * system's zone database has ZONE (an IANA name, no path tricks). */
static int zone_set(const char *zone)
{
    char        path[512], magic[4];
    const char *dir = getenv("TZDIR");
    struct stat st;
    FILE       *f;
    size_t      got;

    /* a zone's name, not a path; not the right/ zones, which count leap
     * seconds and would move every UTC time printed after */
    if (zone[0] == '\0' || zone[0] == '/' || strstr(zone, "..") != NULL ||
        strncmp(zone, "right/", 6) == 0 || strlen(zone) > 128)
        return -1;
    snprintf(path, sizeof path, "%s/%s",
             dir != NULL && dir[0] != '\0' ? dir : "/usr/share/zoneinfo", zone);
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return -1;
    /* a zone file (RFC 8536), not the database's tables beside them */
    f = fopen(path, "rb");
    got = f != NULL ? fread(magic, 1, sizeof magic, f) : 0;
    if (f != NULL)
        fclose(f);
    if (got != sizeof magic || memcmp(magic, "TZif", 4) != 0)
        return -1;
    if (setenv("TZ", zone, 1) != 0)
        return -1;
    tzset();
    return 0;
}

/* The last second of the zone's day that holds t, or to if earlier: the
 * next local midnight less one second. */
static uint32_t zone_day_end(uint32_t t, uint32_t to)
{
    time_t    tt = (time_t)t, next;
    struct tm tm;

    if (localtime_r(&tt, &tm) == NULL)
        return to;
    tm.tm_mday += 1;
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = -1;
    next = mktime(&tm);
    if (next == (time_t)-1 || next <= tt || (uint64_t)next - 1 >= to)
        return to;
    return (uint32_t)(next - 1);
}

/* `admin void-codes --by NAME`: the unused enrollment codes made under
 * NAME expire now (offpayd does it for an operator taken out of its
 * --operators-file; this is for one removed by a restart). */
static int void_codes(offpay_ledger *l, const char *by, int json)
{
    uint64_t   n = 0;
    offpay_err rc;

    if (by == NULL)
        return cli_usage_error("admin void-codes: --by NAME is required (the "
                               "name the codes were made under: an "
                               "operator's, or 'NAME (offpay admin)')");
    rc = offpay_ledger_enrollments_void_by(l, by, cli_now(), &n);
    if (rc != OFFPAY_OK)
        return cli_fail("void-codes", rc);
    if (json)
        return cli_print_json(
            json_pack("{s:s, s:I}", "by", by, "voided", (json_int_t)n),
            "void-codes");
    printf("voided %llu unused enrollment code(s) made by %s\n",
           (unsigned long long)n, by);
    return EXIT_OK;
}

/* `admin actions`: what operators did (settle.h,
 * "what operators did"), in time order; its --json is GET
 * /v1/admin/actions's answer. */
static int actions(offpay_ledger *l, const offpay_action_filter *f, int json)
{
    offpay_operator_action *v = NULL;
    size_t                  n = 0;
    int                     more = 0;
    char                    when[32], next[OFFPAY_ACTION_CURSOR_MAX];
    offpay_err              rc;

    rc = offpay_ledger_actions(l, f, &v, &n, &more);
    if (rc != OFFPAY_OK)
        return cli_fail("actions", rc);
    if (json) {
        json_t *doc = offpay__actions_json(v, n, more);

        free(v);
        return cli_print_json(doc, "actions");
    }
    for (size_t i = 0; i < n; i++) {
        const char *kind = offpay__action_subject_kind(v[i].action);

        printf("%s  %s", cli_iso_time(v[i].at, when), v[i].action);
        if (kind != NULL && v[i].subject != 0)
            printf(" %s %llu", kind, (unsigned long long)v[i].subject);
        if (v[i].detail[0] != '\0')
            printf("  \"%s\"", v[i].detail);
        printf("  by %s\n", v[i].who);
    }
    if (n == 0)
        printf("no action kept in this period%s\n",
               f->who != NULL || f->action != NULL || f->subject != 0
                   ? " that matches"
                   : "");
    if (more) {
        offpay_action_cursor(&v[n - 1], next);
        printf("more: --after %s\n", next);
    }
    free(v);
    return EXIT_OK;
}

/* `admin report`: the settlement report of GET /v1/admin/report over
 * every merchant (its --json is that answer with every merchant, or with
 * --by-day {"days": [one per day]}); --by-day cuts [from, to] at each
 * midnight UTC. */
static int report(offpay_ledger *l, uint32_t from, uint32_t to, int by_day,
                  const char *tz, int form)
{
    uint32_t   now = cli_now(), d0 = from, d1;
    json_t    *days = NULL, *doc;
    offpay_err rc;
    int        status = EXIT_OK, json = form == REPORT_JSON;
    FILE      *csv = NULL; /* --csv: the rows, printed once all are read */
    char      *csv_buf = NULL;
    size_t     csv_len = 0;

    if (from > to)
        return cli_usage_error("admin report: --from is after --to (unix "
                               "times, both included)");
    if (tz != NULL && !by_day)
        return cli_usage_error("admin report: --tz is for --by-day (the "
                               "days it cuts); --from and --to are unix "
                               "times whatever the zone");
    if (tz != NULL && zone_set(tz) != 0)
        return cli_usage_error("admin report: --tz: no time zone '%s' in "
                               "the system's zone database (an IANA name "
                               "such as Europe/Berlin or America/New_York; "
                               "/usr/share/zoneinfo lists them)",
                               tz);
    if (by_day && (to - from) / 86400u >= REPORT_DAYS_MAX)
        return cli_usage_error("admin report: --by-day reports at most %u "
                               "days at once (give --from and --to)",
                               REPORT_DAYS_MAX);
    if (json && by_day && (days = json_array()) == NULL)
        return cli_fail("report", OFFPAY_ENOMEM);
    /* the CSV is written whole or not at all: a day that fails leaves
     * nothing on standard output for an import to take as the period */
    if (form == REPORT_CSV &&
        (csv = open_memstream(&csv_buf, &csv_len)) == NULL)
        return cli_fail("report", OFFPAY_ENOMEM);
    if (csv != NULL)
        fputs(report_csv_head, csv);
    do {
        /* the day's last second (in --tz, that zone's day: 23 or 25
         * hours when its clocks change), or to */
        d1 = tz != NULL ? zone_day_end(d0, to)
             : by_day && to - d0 > 86399u - d0 % 86400u
                 ? d0 + (86399u - d0 % 86400u)
                 : to;
        if (form == REPORT_CSV) {
            struct report_csv c = {d0, d1, now, csv};
            uint64_t          last;
            int               more;

            rc = offpay__report_walk(l, d0, d1, 0, UINT64_MAX, report_csv_row,
                                     &c, &last, &more);
            if (rc != OFFPAY_OK)
                status = cli_fail("report", rc);
        } else if (!json) {
            status = report_text(l, d0, d1, now);
        } else {
            rc = offpay__report_page(l, d0, d1, 0, UINT64_MAX, now, &doc);
            if (rc != OFFPAY_OK)
                status = cli_fail("report", rc);
            else if (days != NULL)
                json_array_append_new(days, doc);
            else
                status = cli_print_json(doc, "report");
        }
        if (by_day && form == 0 && d1 < to && status == EXIT_OK)
            printf("\n");
        d0 = d1 + 1;
    } while (status == EXIT_OK && d1 < to);
    if (csv != NULL) {
        if (fclose(csv) != 0 && status == EXIT_OK)
            status = cli_fail("report", OFFPAY_ENOMEM);
        if (status == EXIT_OK)
            fwrite(csv_buf, 1, csv_len, stdout);
        free(csv_buf);
    }
    if (days != NULL) {
        if (status == EXIT_OK)
            return cli_print_json(json_pack("{s:o}", "days", days), "report");
        json_decref(days);
    }
    return status;
}

/* `admin keys`: what each issuer key signed that the ledger still
 * holds live (offpay_ledger_keys, credentials read), and what retiring
 * it now would stop and strand (docs/operations.md §6). */
static int keys(offpay_ledger *l, int json)
{
    offpay_ledger_key_use *v = NULL;
    size_t                 n = 0;
    json_t                *arr = NULL;
    offpay_err             rc = offpay_ledger_keys(l, cli_now(), 1, &v, &n);

    if (rc != OFFPAY_OK)
        return cli_fail("admin keys", rc);
    if (json) {
        arr = json_array();
        for (size_t i = 0; arr != NULL && i < n; i++)
            if (json_array_append_new(arr, offpay__json_key_use(&v[i])) != 0) {
                json_decref(arr);
                arr = NULL;
            }
        free(v);
        return cli_print_json(json_pack("{s:o}", "keys", arr), "admin keys");
    }
    for (size_t i = 0; i < n; i++) {
        const offpay_ledger_key_use *k = &v[i];
        size_t shown = k->terminals < OFFPAY_LEDGER_KEY_TERMINALS_SHOWN
                           ? k->terminals
                           : OFFPAY_LEDGER_KEY_TERMINALS_SHOWN;
        char   exp[32], due[32];

        printf("key %u\n", (unsigned)k->kid);
        printf("  live terminals %lu%s", (unsigned long)k->terminals,
               shown > 0 ? ":" : "");
        for (size_t j = 0; j < shown; j++)
            printf("%s%lu", j > 0 ? ", " : " ",
                   (unsigned long)k->terminal_ids[j]);
        printf("%s\n", k->terminals > shown ? ", ..." : "");
        if (k->credentials > 0)
            printf("  wallet credentials not released %llu (%llu not "
                   "expired), the last expiring %s, its escrow released "
                   "%s\n",
                   (unsigned long long)k->credentials,
                   (unsigned long long)k->credentials_live,
                   cli_iso_time(k->credentials_expire, exp),
                   cli_iso_time(k->release_due, due));
        else
            printf("  wallet credentials not released 0\n");
        if (k->terminals == 0 && k->credentials == 0) {
            printf("  retiring it now stops and strands nothing\n");
            continue;
        }
        printf("  retiring it now:");
        if (k->terminals > 0)
            printf(" STOPS %lu terminal(s): what they upload is refused "
                   "(ETERMINAL_EXPIRED); rotate each first (offpay terminal "
                   "rotate)%s",
                   (unsigned long)k->terminals, k->credentials > 0 ? ";" : "");
        if (k->credentials > 0)
            printf(" STRANDS %llu credential(s): their codes not uploaded "
                   "yet are refused (EUNKNOWN_KID); retire it after %s",
                   (unsigned long long)k->credentials, due);
        printf("\n");
    }
    printf("%s key not listed signed no live terminal and no wallet "
           "credential not released: retiring it stops and strands "
           "nothing\n",
           n > 0 ? "A" : "Any");
    free(v);
    return EXIT_OK;
}

/* `admin accounts`: the payers' accounts, a page at a time, or those of
 * reference ref (settle.h, offpay_ledger_wallet_accounts). */
static int accounts(offpay_ledger *l, const char *ref, const admin_args *a)
{
    offpay_wallet_account_info *v = NULL;
    size_t                      n = 0;
    char                        when[32], lost[32], money[64];
    uint32_t                    now = cli_now();
    offpay_err                  rc;

    rc = offpay_ledger_wallet_accounts_at(l, ref, a->f.after_id,
                                          (size_t)a->limit, now, &v, &n);
    if (rc != OFFPAY_OK)
        return cli_fail("accounts", rc);
    if (a->json) {
        json_t  *arr = json_array();
        uint64_t last;

        for (size_t i = 0; arr != NULL && i < n; i++) {
            json_t *j;

            cli_iso_time(v[i].created_at, when);
            cli_iso_time(v[i].lost_at, lost);
            j = json_pack("{s:o, s:s, s:s, s:s, s:o, s:I, s:I, s:s?, "
                          "s:o, s:o, s:o}",
                          "account", cli_json_u64(v[i].id), "currency",
                          offpay_currency_alpha(v[i].currency), "ref", v[i].ref,
                          "created_at", when, "balance",
                          decimal_json(v[i].balance, v[i].currency),
                          "credentials", (json_int_t)v[i].credentials,
                          "credentials_active",
                          (json_int_t)v[i].credentials_active, "lost_at",
                          v[i].lost_at != 0 ? lost : NULL, "escrow_held",
                          decimal_json(v[i].escrow_held, v[i].currency),
                          "escrow_back", escrow_back_json(&v[i]), "late_until",
                          late_until_json(&v[i], now));
            late_held_json(j, &v[i]);
            json_array_append_new(arr, j);
        }
        last = n > 0 ? v[n - 1].id : 0;
        free(v);
        return page_json(arr, "accounts", n, a->limit, last);
    }
    for (size_t i = 0; i < n; i++) {
        cli_iso_time(v[i].created_at, when);
        if (offpay_amount_format(v[i].balance, v[i].currency, money,
                                 sizeof money) != OFFPAY_OK)
            snprintf(money, sizeof money, "%lld minor units",
                     (long long)v[i].balance);
        printf("account %llu  %s %s  credentials %u (%u active)  since %s",
               (unsigned long long)v[i].id, money,
               offpay_currency_alpha(v[i].currency), (unsigned)v[i].credentials,
               (unsigned)v[i].credentials_active, when);
        print_escrow_held(&v[i], "  ");
        print_late_until(&v[i], now, "  ");
        print_late_held(&v[i], "  ");
        if (v[i].lost_at != 0) {
            cli_iso_time(v[i].lost_at, lost);
            printf("  LOST %s", lost);
        }
        /* the reference last: it may hold spaces */
        printf("  \"%s\"\n", v[i].ref);
    }
    page_end(n, a->limit, n > 0 ? v[n - 1].id : 0, "account");
    free(v);
    return EXIT_OK;
}

/* What `admin refund` asks: the presentment, the amount as written, and
 * the operator's reference and request key (NULL: none). */
typedef struct refund_args {
    uint64_t    presentment;
    const char *amount, *ref, *key;
    int         funded; /* --funded: the merchant paid the amount in */
} refund_args;

static int refund_print(const offpay_refund *f, int replayed, const char *key,
                        const char *warning, int json)
{
    uint16_t cur = f->currency;
    char     m1[64], m2[64], m3[64];

    if (json) {
        json_t *doc = json_pack(
            "{s:o, s:s, s:o, s:I, s:o, s:o, s:o, s:o, s:o?, s:o, s:o, s:o, s:o,"
            " s:o, s:o, s:b, s:o}",
            "presentment", cli_json_u64(f->presentment), "currency",
            offpay_currency_alpha(cur), "amount", decimal_json(f->amount, cur),
            "amount_minor", (json_int_t)f->amount, "to_guarantee",
            decimal_json(f->to_guarantee, cur), "to_wallet",
            decimal_json(f->to_wallet, cur), "merchant_account",
            cli_json_u64(f->merchant_account), "wallet_account",
            cli_json_u64(f->wallet_account), "guarantee_account",
            f->guarantee_account != 0 ? cli_json_u64(f->guarantee_account)
                                      : NULL,
            "transfer", cli_json_u64(f->transfer), "deposited",
            decimal_json(f->deposited, cur), "paid", decimal_json(f->paid, cur),
            "covered", decimal_json(f->covered, cur), "refunded",
            decimal_json(f->refunded, cur), "refundable",
            decimal_json(f->paid - f->refunded, cur), "replayed", replayed,
            "warning", warning != NULL ? json_string(warning) : json_null());

        return cli_print_json(doc, "refund");
    }
    if (replayed)
        printf("this refund was made before under --key %s: nothing moved "
               "now\n",
               key);
    printf("refund of presentment %llu: %s out of merchant account %llu\n",
           (unsigned long long)f->presentment,
           cli_money(f->amount, cur, m1, sizeof m1),
           (unsigned long long)f->merchant_account);
    if (f->deposited > 0)
        printf("  %s paid in by the merchant first (--funded)\n",
               cli_money(f->deposited, cur, m1, sizeof m1));
    if (f->to_guarantee > 0)
        printf("  %s back to the guarantee (account %llu), which covered "
               "the payment\n",
               cli_money(f->to_guarantee, cur, m1, sizeof m1),
               (unsigned long long)f->guarantee_account);
    if (f->to_wallet > 0)
        printf("  %s to the payer's wallet account %llu\n",
               cli_money(f->to_wallet, cur, m1, sizeof m1),
               (unsigned long long)f->wallet_account);
    printf("  transfer %llu\n", (unsigned long long)f->transfer);
    printf("presentment %llu: paid %s, refunded %s in all, %s left to "
           "refund\n",
           (unsigned long long)f->presentment,
           cli_money(f->paid, cur, m1, sizeof m1),
           cli_money(f->refunded, cur, m2, sizeof m2),
           cli_money(f->paid - f->refunded, cur, m3, sizeof m3));
    if (warning != NULL)
        printf("WARNING: %s\n", warning);
    return EXIT_OK;
}

/* `admin refund`: the merchant gives back part or all of what a
 * presentment was paid (settle.h, offpay_ledger_refund). */
static int refund(offpay_ledger *l, const refund_args *q, int json)
{
    offpay_refund st, f;
    int64_t       amount;
    int           replayed = 0;
    char          m1[64], m2[64], warning[OFFPAY__REFUND_WARNING_MAX];
    offpay_err    rc;

    rc = offpay_ledger_refund_state(l, q->presentment, &st);
    if (rc == OFFPAY_ENOTFOUND) {
        fprintf(stderr,
                "offpay: admin refund: no presentment %llu "
                "(ENOTFOUND)\n",
                (unsigned long long)q->presentment);
        return EXIT_REJECTED;
    }
    if (rc != OFFPAY_OK)
        return cli_fail("refund", rc);
    if (cli_amount(q->amount, st.currency, &amount) != 0)
        return EXIT_USAGE;
    if (amount <= 0)
        return cli_usage_error("admin refund: --amount must be more than 0");
    rc = offpay_ledger_refund(l, q->presentment, amount, q->funded, q->ref,
                              q->key, cli_now(), &f, &replayed);
    if (rc == OFFPAY_OK && q->key == NULL)
        fprintf(stderr,
                "offpay: admin refund: made without --key: this command run "
                "again refunds again; give --key (the return's reference) "
                "so that a repeat moves nothing\n");
    if (rc == OFFPAY_OK)
        return refund_print(&f, replayed, q->key,
                            offpay__refund_warning(l, &f, warning), json);
    if (rc == OFFPAY_EOVER_REFUND &&
        offpay_ledger_refund_state(l, q->presentment, &st) == OFFPAY_OK) {
        fprintf(stderr,
                "offpay: admin refund: %s remains to refund of the %s paid "
                "for presentment %llu; nothing moved (EOVER_REFUND)\n",
                cli_money(st.paid - st.refunded, st.currency, m1, sizeof m1),
                cli_money(st.paid, st.currency, m2, sizeof m2),
                (unsigned long long)q->presentment);
        return EXIT_REJECTED;
    }
    if (rc == OFFPAY_EFUNDS) {
        fprintf(stderr,
                "offpay: admin refund: merchant account %llu holds less "
                "than %s (its money was paid out; on a sharded ledger, its "
                "part on the payment's shard): give --funded once the "
                "merchant paid the amount in; nothing moved (EFUNDS)\n",
                (unsigned long long)st.merchant_account,
                cli_money(amount, st.currency, m1, sizeof m1));
        return EXIT_REJECTED;
    }
    if (rc == OFFPAY_EEXISTS) {
        fprintf(stderr,
                "offpay: admin refund: --key %s was used for another "
                "request; nothing moved (EEXISTS)\n",
                q->key);
        return EXIT_REJECTED;
    }
    return cli_fail("refund", rc);
}

/* `admin deposit` and `admin withdraw` (q: --amount, --ref, --key): money
 * between the outside and account, as POST /v1/admin/accounts/N/deposit
 * and /withdraw move it, with the same refusals in the same words. */
static int move_money(offpay_ledger *l, uint64_t account, const refund_args *q,
                      int withdraw, int take_held, int json)
{
    const char         *what = withdraw ? "admin withdraw" : "admin deposit";
    const char         *move = withdraw ? "withdrawal" : "deposit";
    offpay_account_kind kind;
    uint16_t            cur;
    int64_t             bal = 0, amount = 0;
    uint64_t            transfer = 0;
    int                 replayed = 0, bal_read, warned = -1;
    char                m1[64], m2[64], buf[OFFPAY__WITHDRAW_TEXT_MAX];
    const char         *ref = q->ref != NULL ? q->ref : "";
    offpay_err          rc;

    rc = offpay_ledger_balance(l, account, &bal, &kind, &cur);
    if (rc == OFFPAY_ENOTFOUND) {
        fprintf(stderr,
                "offpay: %s: no account %llu (ENOTFOUND; 'offpay admin "
                "accounts' lists the payers' accounts, 'merchants' the "
                "merchants'; a guarantee's is what POST /v1/admin/guarantee "
                "answers)\n",
                what, (unsigned long long)account);
        return EXIT_REJECTED;
    }
    if (rc != OFFPAY_OK)
        return cli_fail(what, rc);
    if (kind != OFFPAY_ACCOUNT_WALLET && kind != OFFPAY_ACCOUNT_MERCHANT &&
        kind != OFFPAY_ACCOUNT_GUARANTEE) {
        offpay__move_kind_refused(buf, sizeof buf, account, kind);
        fprintf(stderr, "offpay: %s: %s; nothing moved (EINVAL)\n", what, buf);
        return EXIT_REJECTED;
    }
    if (cli_amount(q->amount, cur, &amount) != 0)
        return EXIT_USAGE;
    if (amount <= 0)
        return cli_usage_error("%s: --amount must be more than 0", what);
    if (take_held)
        rc = offpay_ledger_withdraw_held(l, account, amount, ref, q->key,
                                         cli_now(), &transfer, &replayed);
    else if (q->key != NULL)
        rc = offpay_ledger_move_once(l, account, amount, withdraw, ref, q->key,
                                     cli_now(), &transfer, &replayed);
    else if (withdraw)
        rc = offpay_ledger_withdraw(l, account, amount, ref, cli_now(),
                                    &transfer);
    else
        rc = offpay_ledger_deposit(l, account, amount, ref, cli_now(),
                                   &transfer);
    if (rc == OFFPAY_EFUNDS) {
        const char *why = offpay__withdraw_refused(
            l, account, amount, cli_now(), "give --take-held", buf);

        fprintf(stderr, "offpay: %s: %s (EFUNDS)\n", what,
                why != NULL ? why
                            : "withdrawal: refused, the account could not be "
                              "read again to say why; nothing was withdrawn");
        return EXIT_REJECTED;
    }
    if (rc == OFFPAY_EOVERFLOW) {
        fprintf(stderr,
                "offpay: %s: a deposit is at most %s and leaves an account "
                "at most %s (EOVERFLOW)\n",
                what, cli_money(OFFPAY_LEDGER_DEPOSIT_MAX, cur, m1, sizeof m1),
                cli_money(OFFPAY_LEDGER_BALANCE_MAX, cur, m2, sizeof m2));
        return EXIT_REJECTED;
    }
    if (rc == OFFPAY_EEXISTS && q->key != NULL) {
        fprintf(stderr,
                "offpay: %s: --key %s was used for another request; nothing "
                "moved (EEXISTS)\n",
                what, q->key);
        return EXIT_REJECTED;
    }
    if (rc != OFFPAY_OK)
        return cli_fail(what, rc);
    if (q->key == NULL)
        fprintf(stderr,
                "offpay: %s: made without --key: this command run again "
                "moves the money again; give --key (the payment's reference) "
                "so that a repeat moves nothing\n",
                what);
    bal_read =
        offpay_ledger_balance(l, account, &bal, &kind, &cur) == OFFPAY_OK;
    if (withdraw && kind == OFFPAY_ACCOUNT_WALLET)
        warned = offpay__withdraw_warning(l, account, cli_now(), buf);
    if (withdraw && kind == OFFPAY_ACCOUNT_GUARANTEE)
        warned = offpay__guarantee_withdraw_warning(l, cur, cli_now(), buf);
    if (json) {
        /* offpayd's answer (docs/api.md, "Accounts"), but for the parts of
         * a sharded guarantee */
        json_t *j = json_pack(
            "{s:o, s:s, s:s, s:o, s:o}", "account", offpay__json_id(account),
            "kind", offpay_account_kind_name(kind), "currency",
            offpay_currency_alpha(cur), "balance",
            bal_read ? offpay__json_amount(bal, cur) : json_null(), "transfer",
            offpay__json_id(transfer));

        if (j != NULL && q->key != NULL)
            json_object_set_new(j, "replayed", json_boolean(replayed));
        if (j != NULL && warned >= 0)
            json_object_set_new(j, "warning",
                                warned ? json_string(buf) : json_null());
        return cli_print_json(j, what);
    }
    if (replayed)
        /* the transfer booked then, with the ref given then */
        printf("this %s was made before under --key %s (transfer %llu): "
               "nothing moved now\n",
               move, q->key, (unsigned long long)transfer);
    else
        printf("%s %s %s %s account %llu (ref \"%s\"): transfer %llu%s\n", move,
               cli_money(amount, cur, m1, sizeof m1),
               withdraw ? "from" : "into", offpay_account_kind_name(kind),
               (unsigned long long)account, ref, (unsigned long long)transfer,
               take_held && kind == OFFPAY_ACCOUNT_WALLET
                   ? " (--take-held: the part held for late payments may be "
                     "taken)"
                   : "");
    if (bal_read)
        printf("account %llu now holds %s\n", (unsigned long long)account,
               cli_money(bal, cur, m2, sizeof m2));
    else
        printf("account %llu: its balance could not be read now ('offpay "
               "admin transfers --account %llu' sums it)\n",
               (unsigned long long)account, (unsigned long long)account);
    if (warned > 0)
        printf("WARNING: %s\n", buf);
    return EXIT_OK;
}

/* A case as --json gives it (as offpayd's, its times in ISO 8601). */
static json_t *case_json(const offpay_case_info *c)
{
    char opened[32], closed[32];

    cli_iso_time(c->opened_at, opened);
    cli_iso_time(c->closed_at, closed);
    return json_pack(
        "{s:o, s:s, s:o, s:I, s:o, s:o, s:I, s:s, s:o, s:o}", "id",
        cli_json_u64(c->id), "kind", offpay_case_kind_name(c->kind), "serial",
        cli_json_u64(c->serial), "counter", (json_int_t)c->counter, "payment",
        cli_json_u64(c->payment), "presentment", cli_json_u64(c->presentment),
        "terminal", (json_int_t)c->terminal_id, "opened_at", opened,
        "closed_at", c->closed_at != 0 ? json_string(closed) : json_null(),
        "resolution",
        c->closed_at != 0 ? json_string(c->resolution) : json_null());
}

/* A case on one line, and its resolution on the next when it is closed. */
static void case_line(const offpay_case_info *c)
{
    char when[32];

    cli_iso_time(c->opened_at, when);
    printf("case %llu  %-16s credential %llu  counter %u  terminal %u  "
           "presentment %llu  opened %s  %s",
           (unsigned long long)c->id, offpay_case_kind_name(c->kind),
           (unsigned long long)c->serial, (unsigned)c->counter,
           (unsigned)c->terminal_id, (unsigned long long)c->presentment, when,
           c->closed_at != 0 ? "CLOSED" : "OPEN");
    if (c->closed_at != 0)
        printf(" %s\n    resolution: %s", cli_iso_time(c->closed_at, when),
               c->resolution);
    putchar('\n');
}

/* The cases v[0..n), as a table or one JSON object. */
static int print_cases(const offpay_case_info *v, size_t n, int json)
{
    if (json) {
        json_t *arr = json_array();

        for (size_t i = 0; arr != NULL && i < n; i++)
            json_array_append_new(arr, case_json(&v[i]));
        return cli_print_json(
            json_pack("{s:I, s:o}", "count", (json_int_t)n, "cases", arr),
            "cases");
    }
    for (size_t i = 0; i < n; i++)
        case_line(&v[i]);
    printf("%zu case(s)\n", n);
    return EXIT_OK;
}

static int cases(offpay_ledger *l, const admin_args *a)
{
    offpay_case_info *v = NULL;
    size_t            n = 0;
    offpay_err        rc;
    int               status;

    rc = offpay_ledger_cases(l, &a->f, (size_t)a->limit, &v, &n);
    if (rc != OFFPAY_OK)
        return cli_fail("cases", rc);
    status = print_cases(v, n, a->json);
    free(v);
    return status;
}

/* What a booking's name ends with when offpay admin booked it on the
 * ledger (--db): a claim of whoever opened the ledger, not a name offpayd
 * matched to a token. */
#define ACTOR_SUFFIX OFFPAY_ACTOR_ADMIN_SUFFIX

/* Who runs this command, for a case's step or a booking without --by:
 * run through sudo, the login name sudo names (SUDO_USER: the user who
 * ran sudo, not the account it runs as), else the login name of its
 * effective user ("uid N" when it has none). */
static const char *login_name(char buf[OFFPAY_CASE_AUTHOR_MAX + 1])
{
    struct passwd *pw = getpwuid(geteuid());
    const char    *su = getenv("SUDO_USER");

    if (su != NULL && offpay__case_author_ok(su)) {
        snprintf(buf, OFFPAY_CASE_AUTHOR_MAX + 1, "%s", su);
        return buf;
    }
    if (pw != NULL && offpay__case_author_ok(pw->pw_name))
        snprintf(buf, OFFPAY_CASE_AUTHOR_MAX + 1, "%s", pw->pw_name);
    else
        snprintf(buf, OFFPAY_CASE_AUTHOR_MAX + 1, "uid %u",
                 (unsigned)geteuid());
    return buf;
}

/* A case and its steps all[0..total) as `admin case` prints them; act
 * and step (replayed or not) the step just asked for (act 0: none). */
static int case_print(const offpay_case_info *c, const offpay_case_note *all,
                      size_t total, offpay_case_action act,
                      const offpay_case_note *step, int replayed, int json)
{
    char    when[32];
    json_t *arr;

    if (json) {
        arr = json_array();
        for (size_t i = 0; arr != NULL && i < total; i++)
            json_array_append_new(
                arr, json_pack("{s:o, s:s, s:s, s:s, s:s}", "step",
                               cli_json_u64(all[i].id), "action",
                               offpay_case_action_name(all[i].action), "text",
                               all[i].text, "by", all[i].author, "at",
                               cli_iso_time(all[i].at, when)));
        return cli_print_json(
            act != 0
                ? json_pack("{s:o, s:o, s:o, s:b}", "case", case_json(c),
                            "steps", arr, "step", cli_json_u64(step->id),
                            "replayed", replayed)
                : json_pack("{s:o, s:o}", "case", case_json(c), "steps", arr),
            "admin case");
    }
    if (act != 0 && replayed)
        printf("case %llu: this %s was its newest step already (step %llu "
               "at %s): nothing was added\n",
               (unsigned long long)c->id, offpay_case_action_name(act),
               (unsigned long long)step->id, cli_iso_time(step->at, when));
    else if (act != 0)
        printf("case %llu: %s (step %llu)\n", (unsigned long long)c->id,
               act == OFFPAY_CASE_CLOSE    ? "closed"
               : act == OFFPAY_CASE_REOPEN ? "reopened"
                                           : "note kept",
               (unsigned long long)step->id);
    case_line(c);
    for (size_t i = 0; i < total; i++)
        printf("  step %llu  %s  %-6s  by %s: %s\n",
               (unsigned long long)all[i].id, cli_iso_time(all[i].at, when),
               offpay_case_action_name(all[i].action), all[i].author,
               all[i].text);
    printf("%zu step(s)\n", total);
    return EXIT_OK;
}

/* `admin case CASE [--note|--close|--reopen TEXT]`: the step first, if
 * one is given (offpay_ledger_case_act), taken by by ("NAME (offpay
 * admin)"), then the case and all its steps. */
static int case_show(offpay_ledger *l, uint64_t id, offpay_case_action act,
                     const char *text, const char *by, int json)
{
    char             when[32];
    offpay_case_info c;
    offpay_case_note step, *v = NULL, *all = NULL;
    size_t           n = 0, total = 0;
    uint64_t         after = 0;
    int              replayed = 0, status;
    offpay_err       rc = OFFPAY_OK;

    if (act != 0)
        rc = offpay_ledger_case_act(l, id, act, text, by, cli_now(), &step,
                                    &replayed);
    if (rc == OFFPAY_OK || rc == OFFPAY_ECASE_CLOSED ||
        rc == OFFPAY_ECASE_OPEN) {
        offpay_err g = offpay_ledger_case(l, id, &c);

        rc = g != OFFPAY_OK ? g : rc;
    }
    if (rc == OFFPAY_ENOTFOUND) {
        fprintf(stderr,
                "offpay: admin case: no case %llu (ENOTFOUND; 'offpay admin "
                "cases' lists them)\n",
                (unsigned long long)id);
        return EXIT_REJECTED;
    }
    if (rc == OFFPAY_ECASE_CLOSED) {
        fprintf(stderr,
                "offpay: admin case: case %llu is closed already, since %s "
                "(resolution: %s): nothing was added; --reopen it first to "
                "close it again (ECASE_CLOSED)\n",
                (unsigned long long)id, cli_iso_time(c.closed_at, when),
                c.resolution);
        return EXIT_REJECTED;
    }
    if (rc == OFFPAY_ECASE_OPEN) {
        fprintf(stderr,
                "offpay: admin case: case %llu is open: only a closed case "
                "is reopened; nothing was added (ECASE_OPEN)\n",
                (unsigned long long)id);
        return EXIT_REJECTED;
    }
    if (rc != OFFPAY_OK)
        return cli_fail("admin case", rc);
    /* every step, a page at a time */
    do {
        offpay_case_note *grown;

        rc = offpay_ledger_case_notes(l, id, after, OFFPAY_CASE_NOTES_PAGE_MAX,
                                      &v, &n);
        if (rc != OFFPAY_OK)
            break;
        grown = n > 0 ? realloc(all, (total + n) * sizeof *all) : all;
        if (n > 0 && grown == NULL) {
            rc = OFFPAY_ENOMEM;
            break;
        }
        all = grown;
        if (n > 0) {
            memcpy(all + total, v, n * sizeof *v);
            total += n;
            after = v[n - 1].id;
        }
        free(v);
        v = NULL;
    } while (n == OFFPAY_CASE_NOTES_PAGE_MAX);
    free(v);
    status = rc != OFFPAY_OK
                 ? cli_fail("admin case", rc)
                 : case_print(&c, all, total, act, &step, replayed, json);
    free(all);
    return status;
}

static int evidence(offpay_ledger *l, const admin_args *a, uint64_t id)
{
    uint8_t   *bundle = NULL;
    char      *file = NULL;
    size_t     blen = 0, flen = 0;
    offpay_err rc;
    int        status;

    bundle = cli_read_file(a->bundle, OFFPAY_EVIDENCE_BUNDLE_MAX, &blen);
    if (bundle == NULL)
        return EXIT_FAILURE_IO;
    if (cli_expect_message("admin evidence", "--bundle", a->bundle, bundle,
                           blen, OFFPAY_MSG_TRUST_BUNDLE,
                           CLI_GIVE_BUNDLE) != 0) {
        free(bundle);
        return EXIT_REJECTED;
    }
    rc = offpay_ledger_evidence(l, id, bundle, blen, &file, &flen);
    free(bundle);
    if (rc == OFFPAY_ENOTFOUND) {
        fprintf(stderr, "offpay: admin evidence: no case %llu (ENOTFOUND)\n",
                (unsigned long long)id);
        return EXIT_REJECTED;
    }
    /* who took a payer's codes out of the ledger is kept before the file
     * is written (settle.h, "what operators did"): no record, no file */
    if (rc == OFFPAY_OK)
        rc = offpay_ledger_note_action(l, cli_now(), "export-evidence", id,
                                       NULL);
    if (rc != OFFPAY_OK) {
        free(file);
        return cli_fail("admin evidence", rc);
    }
    status = cli_output_write("--out", a->out, a->force, (const uint8_t *)file,
                              flen);
    free(file);
    if (status == EXIT_OK)
        printf("wrote the evidence of case %llu to %s (%zu bytes); check it "
               "with 'offpay verify-evidence %s --root root.pub'\n",
               (unsigned long long)id, a->out, flen, a->out);
    return status;
}

/* A reply body of offpayd, capped. */
typedef struct reply {
    uint8_t *b;
    size_t   n, cap;
    int      over;
} reply;

static size_t on_body(char *p, size_t size, size_t n, void *ctx)
{
    reply *r = ctx;
    size_t add = size * n;

    if (add > r->cap - r->n) {
        r->over = 1;
        return 0; /* stops the transfer */
    }
    memcpy(r->b + r->n, p, add);
    r->n += add;
    return add;
}

/* GET path of offpayd at a->server with the operator's token (what names
 * the command in messages): the reply's body (at most r->cap bytes) in
 * *r and its HTTP status in *code. EXIT_OK, or the exit status of a
 * failure already reported. */
static int admin_request(const admin_args *a, const char *what,
                         const char *path, const char *body, reply *r,
                         long *code)
{
    uint8_t           *tok = NULL;
    size_t             tlen = 0, blen;
    char              *auth = NULL, url[1400];
    struct curl_slist *hdr = NULL;
    CURL              *c = NULL;
    CURLcode           cc;
    int                status = EXIT_FAILURE_IO;

    *code = 0;
    blen = strlen(a->server);
    while (blen > 0 && a->server[blen - 1] == '/')
        blen--;
    if ((strncmp(a->server, "http://", 7) != 0 &&
         strncmp(a->server, "https://", 8) != 0) ||
        blen > 1000)
        return cli_usage_error("%s: --server is http://HOST:PORT", what);
    snprintf(url, sizeof url, "%.*s%s", (int)blen, a->server, path);
    tok = cli_read_file(a->token_file, 4096, &tlen);
    if (tok == NULL)
        return EXIT_FAILURE_IO;
    for (size_t i = 0; i < tlen; i++)
        if (tok[i] == '\n' || tok[i] == '\r') {
            tlen = i;
            break;
        }
    auth = malloc(tlen + 32);
    if (auth == NULL) {
        status = cli_fail(what, OFFPAY_ENOMEM);
        goto out;
    }
    snprintf(auth, tlen + 32, "Authorization: Bearer %.*s", (int)tlen,
             (const char *)tok);
    c = curl_easy_init();
    hdr = curl_slist_append(NULL, auth);
    if (c == NULL || hdr == NULL) {
        status = cli_fail(what, OFFPAY_ENOMEM);
        goto out;
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    if (body != NULL) /* a POST of it; else a GET */
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if ((cc = curl_easy_perform(c)) != CURLE_OK) {
        /* curl's reason: refused, not resolved, TLS to a plain server */
        fprintf(stderr, "offpay: %s: %s: %s%s%s\n", what, url,
                r->over ? "the reply exceeds its cap" : "no reply from offpayd",
                r->over ? "" : ": ", r->over ? "" : curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, code);
    status = EXIT_OK;
out:
    curl_slist_free_all(hdr);
    if (c != NULL)
        curl_easy_cleanup(c);
    if (auth != NULL) {
        sodium_memzero(auth, tlen + 32);
        free(auth);
    }
    if (tok != NULL) {
        sodium_memzero(tok, tlen);
        free(tok);
    }
    return status;
}

/* offpayd's error reply (doc may be NULL), reported; the exit status. */
static int admin_refused(const char *what, long code, const json_t *doc)
{
    const char *e = json_string_value(json_object_get(doc, "error"));
    const char *h = json_string_value(json_object_get(doc, "hint"));

    fprintf(stderr, "offpay: %s: offpayd answered %ld %s: %s\n", what, code,
            e != NULL ? e : "?", h != NULL ? h : "");
    /* the exit table: a request offpayd refused is 1 (a wrong token
     * included), a malformed one 2, offpayd failing 3 */
    if (code == 400)
        return EXIT_USAGE;
    return code >= 400 && code < 500 ? EXIT_REJECTED : EXIT_FAILURE_IO;
}

/* admin_request, then its reply's JSON into *doc (the one there before
 * freed; NULL when the reply is not JSON), an answer other than 200
 * reported by admin_refused: EXIT_OK or the exit status; *code the HTTP
 * status. */
static int admin_call(const admin_args *a, const char *what, const char *path,
                      const char *body, reply *r, json_t **doc, long *code)
{
    int status;

    r->n = 0;
    status = admin_request(a, what, path, body, r, code);
    if (status != EXIT_OK)
        return status;
    json_decref(*doc);
    *doc = json_loadb((const char *)r->b, r->n, JSON_REJECT_DUPLICATES, NULL);
    return *code == 200 ? EXIT_OK : admin_refused(what, *code, *doc);
}

/* `admin evidence CASE --server URL --token-file FILE`: the evidence as
 * offpayd exports it (GET /v1/admin/cases/ID/evidence), written as it
 * came once it parses as the evidence file's JSON. */
static int evidence_remote(const admin_args *a, uint64_t id)
{
    char    path[64];
    reply   r = {NULL, 0, OFFPAY_EVIDENCE_MAX_BYTES, 0};
    long    code = 0;
    json_t *doc = NULL;
    int     status;

    snprintf(path, sizeof path, "/v1/admin/cases/%llu/evidence",
             (unsigned long long)id);
    r.b = malloc(r.cap);
    if (r.b == NULL)
        return cli_fail("admin evidence", OFFPAY_ENOMEM);
    status = admin_call(a, "admin evidence", path, NULL, &r, &doc, &code);
    if (status != EXIT_OK) {
        if (code == 400)
            status = EXIT_FAILURE_IO; /* the ledger's, not the command's */
        goto out;
    }
    if (!json_is_object(doc)) {
        fprintf(stderr, "offpay: admin evidence: offpayd's reply is not "
                        "JSON\n");
        status = EXIT_FAILURE_IO;
        goto out;
    }
    status = cli_output_write("--out", a->out, a->force, r.b, r.n);
    if (status == EXIT_OK)
        printf("wrote the evidence of case %llu to %s (%zu bytes, from "
               "offpayd); check it with 'offpay verify-evidence %s --root "
               "root.pub'\n",
               (unsigned long long)id, a->out, r.n, a->out);
out:
    json_decref(doc);
    free(r.b);
    return status;
}

/* A decimal id string of offpayd's replies (1..INT64_MAX). */
static int reply_id(const json_t *o, const char *key, uint64_t *v)
{
    const char        *s = json_string_value(json_object_get(o, key));
    char              *end = NULL;
    unsigned long long x;

    if (s == NULL || s[0] < '1' || s[0] > '9')
        return 0;
    errno = 0;
    x = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || x > INT64_MAX)
        return 0;
    *v = x;
    return 1;
}

/* A JSON integer of offpayd's replies in 0..max. */
static int reply_u32(const json_t *o, const char *key, uint32_t *v)
{
    const json_t *j = json_object_get(o, key);

    if (!json_is_integer(j) || json_integer_value(j) < 0 ||
        json_integer_value(j) > UINT32_MAX)
        return 0;
    *v = (uint32_t)json_integer_value(j);
    return 1;
}

/* A case as offpayd answers it (docs/api.md) into *c: 1, or 0 when o is
 * not one. */
static int case_from_json(const json_t *o, offpay_case_info *c)
{
    const char   *k = json_string_value(json_object_get(o, "kind"));
    const json_t *ca = json_object_get(o, "closed_at");
    const json_t *res = json_object_get(o, "resolution");

    memset(c, 0, sizeof *c);
    if (!reply_id(o, "id", &c->id) || !reply_id(o, "serial", &c->serial) ||
        !reply_id(o, "payment", &c->payment) ||
        !reply_id(o, "presentment", &c->presentment) ||
        !reply_u32(o, "counter", &c->counter) ||
        !reply_u32(o, "terminal", &c->terminal_id) ||
        !reply_u32(o, "opened_at", &c->opened_at) || k == NULL ||
        offpay_case_kind_from_name(k, &c->kind) != OFFPAY_OK)
        return 0;
    /* both null: open; both absent: an offpayd before 0.24.0, which keeps
     * no state (shown open) */
    if ((json_is_null(ca) && json_is_null(res)) || (ca == NULL && res == NULL))
        return 1;
    if (!reply_u32(o, "closed_at", &c->closed_at) || c->closed_at == 0 ||
        !json_is_string(res) || json_string_length(res) > OFFPAY_CASE_TEXT_MAX)
        return 0;
    memcpy(c->resolution, json_string_value(res), json_string_length(res) + 1);
    return 1;
}

/* A case's step as offpayd answers it into *n: 1, or 0 when o is not one. */
static int step_from_json(const json_t *o, uint64_t case_id,
                          offpay_case_note *n)
{
    const char *a = json_string_value(json_object_get(o, "action"));
    const char *t = json_string_value(json_object_get(o, "text"));
    const char *b = json_string_value(json_object_get(o, "by"));

    memset(n, 0, sizeof *n);
    n->case_id = case_id;
    if (!reply_id(o, "step", &n->id) || !reply_u32(o, "at", &n->at) ||
        a == NULL || offpay_case_action_from_name(a, &n->action) != OFFPAY_OK ||
        t == NULL || strlen(t) > OFFPAY_CASE_TEXT_MAX || b == NULL ||
        strlen(b) > OFFPAY_CASE_AUTHOR_MAX)
        return 0;
    memcpy(n->text, t, strlen(t) + 1);
    memcpy(n->author, b, strlen(b) + 1);
    return 1;
}

/* `admin case CASE --server URL --token-file FILE [--note|--close|--reopen
 * TEXT]`: the step through offpayd (POST /v1/admin/cases/N/notes, /close,
 * /reopen), then the case and its steps as offpayd gives them (GET
 * /v1/admin/cases/N, paged), printed as with --db. */
static int case_remote(const admin_args *a, uint64_t id, offpay_case_action act,
                       const char *text, const char *by, int json)
{
    static const char *const route[] = {NULL, "notes", "close", "reopen"};
    static const char *const field[] = {NULL, "text", "resolution", "reason"};
    char                     path[96];
    reply                    r = {NULL, 0, 4u * 1024u * 1024u, 0};
    long                     code = 0;
    json_t                  *doc = NULL;
    char                     body[4 * OFFPAY_CASE_TEXT_MAX];
    offpay_case_info         c;
    offpay_case_note         step, *all = NULL;
    size_t                   total = 0;
    uint64_t                 after = 0;
    int                      replayed = 0, status = EXIT_OK, more = 1;

    memset(&step, 0, sizeof step);
    r.b = malloc(r.cap);
    if (r.b == NULL)
        return cli_fail("admin case", OFFPAY_ENOMEM);
    if (act != 0) {
        /* without --by, offpayd takes the step as the operator whose
         * token it is ("operator token" for --token-file's) */
        json_t *req = json_pack("{s:s}", field[act], text);

        if (req != NULL && by != NULL)
            json_object_set_new(req, "by", json_string(by));
        /* one-line text without control characters: at most twice as long
         * escaped (quotes, backslashes) */
        size_t len = req != NULL
                         ? json_dumpb(req, body, sizeof body - 1, JSON_COMPACT)
                         : 0;

        json_decref(req);
        if (len == 0 || len >= sizeof body) {
            status = cli_fail("admin case", OFFPAY_ENOMEM);
            goto out;
        }
        body[len] = '\0';
        snprintf(path, sizeof path, "/v1/admin/cases/%llu/%s",
                 (unsigned long long)id, route[act]);
        status = admin_call(a, "admin case", path, body, &r, &doc, &code);
        if (status != EXIT_OK)
            goto out;
        if (!step_from_json(json_object_get(doc, "step"), id, &step) ||
            !json_is_boolean(json_object_get(doc, "replayed")))
            goto bad;
        replayed = json_is_true(json_object_get(doc, "replayed"));
    }
    while (more) {
        const json_t *arr, *na;

        snprintf(path, sizeof path,
                 "/v1/admin/cases/%llu?limit=1000&after=%llu",
                 (unsigned long long)id, (unsigned long long)after);
        status = admin_call(a, "admin case", path, NULL, &r, &doc, &code);
        if (status != EXIT_OK)
            goto out;
        arr = json_object_get(doc, "steps");
        na = json_object_get(doc, "next_after");
        if (!case_from_json(json_object_get(doc, "case"), &c) ||
            !json_is_array(arr) || json_array_size(arr) > 1000)
            goto bad;
        if (json_array_size(arr) > 0) {
            offpay_case_note *grown =
                realloc(all, (total + json_array_size(arr)) * sizeof *all);

            if (grown == NULL) {
                status = cli_fail("admin case", OFFPAY_ENOMEM);
                goto out;
            }
            all = grown;
        }
        for (size_t i = 0; i < json_array_size(arr); i++)
            if (!step_from_json(json_array_get(arr, i), id, &all[total++]))
                goto bad;
        more = na != NULL && !json_is_null(na);
        if (more && (!reply_id(doc, "next_after", &after) || after == 0))
            goto bad;
    }
    status = case_print(&c, all, total, act, &step, replayed, json);
    goto out;
bad:
    fprintf(stderr, "offpay: admin case: offpayd's reply is not a case with "
                    "its steps\n");
    status = EXIT_FAILURE_IO;
out:
    json_decref(doc);
    free(all);
    free(r.b);
    return status;
}

/* One page of GET /v1/admin/cases into v + *n (at most max - *n more);
 * *next the id to page from (0: no more). */
static int cases_page(const admin_args *a, offpay_case_info *v, size_t max,
                      size_t *n, uint64_t *next)
{
    char          path[300], kind[64] = "", serial[40] = "";
    /* a page of 1,000 cases, each with a resolution of up to 1,000 bytes
     * (quotes and backslashes escaped twice as long) */
    reply         r = {NULL, 0, 4u * 1024u * 1024u, 0};
    long          code = 0;
    json_t       *doc = NULL;
    const json_t *arr, *na;
    size_t        want = max - *n > 1000 ? 1000 : max - *n;
    int           status;

    if (a->f.kind != 0)
        snprintf(kind, sizeof kind, "&kind=%s",
                 offpay_case_kind_name(a->f.kind));
    if (a->f.serial != 0) /* none: every credential's (serial=0 is refused) */
        snprintf(serial, sizeof serial, "&serial=%llu",
                 (unsigned long long)a->f.serial);
    snprintf(path, sizeof path,
             "/v1/admin/cases?since=%u&after=%llu&limit=%zu%s%s%s",
             (unsigned)a->f.since, (unsigned long long)*next, want, kind,
             serial,
             a->f.state == OFFPAY_CASES_OPEN     ? "&state=open"
             : a->f.state == OFFPAY_CASES_CLOSED ? "&state=closed"
                                                 : "");
    *next = 0;
    r.b = malloc(r.cap);
    if (r.b == NULL)
        return cli_fail("admin cases", OFFPAY_ENOMEM);
    status = admin_call(a, "admin cases", path, NULL, &r, &doc, &code);
    if (status != EXIT_OK)
        goto out;
    status = EXIT_FAILURE_IO;
    arr = json_object_get(doc, "cases");
    na = json_object_get(doc, "next_after");
    if (!json_is_array(arr) || json_array_size(arr) > want ||
        (na != NULL && !json_is_null(na) && !reply_id(doc, "next_after", next)))
        goto bad;
    for (size_t i = 0; i < json_array_size(arr); i++) {
        if (!case_from_json(json_array_get(arr, i), &v[*n]))
            goto bad;
        (*n)++;
    }
    status = EXIT_OK;
    goto out;
bad:
    fprintf(stderr, "offpay: admin cases: offpayd's reply is not a list of "
                    "cases\n");
out:
    json_decref(doc);
    free(r.b);
    return status;
}

/* `admin cases --server URL --token-file FILE`: the cases as offpayd
 * lists them (GET /v1/admin/cases, paged), printed as with --db. */
static int cases_remote(const admin_args *a)
{
    offpay_case_info *v;
    size_t            n = 0, max = (size_t)a->limit;
    uint64_t          next = a->f.after_id;
    int               status;

    v = calloc(max, sizeof *v);
    if (v == NULL)
        return cli_fail("admin cases", OFFPAY_ENOMEM);
    do
        status = cases_page(a, v, max, &n, &next);
    while (status == EXIT_OK && next != 0 && n < max);
    if (status == EXIT_OK)
        status = print_cases(v, n, a->json);
    free(v);
    return status;
}

/* `admin lists --server URL --root ROOT --out-dir DIR`: offpayd's trust
 * bundle and revocation list, checked under the root key, written as the
 * files air-gapped terminals sync from (terminal sync --bundle --revlist).
 * The issuer directory's revlist.opb knows nothing of the revocations the
 * ledger made (a lost wallet, a double spend). */
static int admin_lists(int argc, char **argv)
{
    static const struct option opts[] = {
        {"server", required_argument, NULL, 'u'},
        {"root", required_argument, NULL, 'r'},
        {"out-dir", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    static char         prog[] = "offpay admin lists";
    const char         *server = NULL, *root = NULL, *dir = NULL;
    uint8_t             root_pk[OFFPAY_PK_BYTES], *bundle = NULL, *list = NULL;
    size_t              blen = 0, llen = 0;
    offpay_trust_bundle b;
    offpay_revlist      rl = {0};
    char                path[4096 + 16];
    uint64_t            seen = 0;
    int                 c, status = EXIT_FAILURE_IO;
    offpay_err          rc;

    argv[1] = prog;
    optind = 1;
    while ((c = cli_getopt(argc - 1, argv + 1, opts, NULL, &seen)) != -1) {
        switch (c) {
        case 'u':
            if (cli_server_url("--server", optarg) != 0)
                return EXIT_USAGE;
            server = optarg;
            break;
        case 'r':
            root = optarg;
            break;
        case 'o':
            dir = optarg;
            break;
        case 'h':
            command_help("lists", "", "");
            fputs(cli_exit_help, stdout);
            return EXIT_OK;
        case CLI_OPT_TWICE:
            return EXIT_USAGE;
        default:
            return cli_usage_error("admin lists: bad option");
        }
    }
    if (optind < argc - 1)
        return cli_usage_error("admin lists: unexpected argument '%s'",
                               argv[optind + 1]);
    if (server == NULL || root == NULL || dir == NULL)
        return cli_usage_error("admin lists: give --server URL, --root ROOT "
                               "and --out-dir DIR");
    if (cli_parse_key(root, root_pk) != 0)
        return EXIT_USAGE;
    if (strlen(dir) > 4096)
        return cli_usage_error("admin lists: --out-dir path too long");
    rc = offpay__http_get_b64(server, "/v1/bundle", "bundle", 3, &bundle,
                              &blen);
    if (rc == OFFPAY_OK)
        rc = offpay__http_get_b64(server, "/v1/revlist", "revlist", 3, &list,
                                  &llen);
    if (rc != OFFPAY_OK) {
        status = cli_fail_online("admin lists", rc);
        goto out;
    }
    /* what a terminal would refuse is not carried to it */
    rc = offpay_bundle_verify(bundle, blen, root_pk, &b);
    if (rc != OFFPAY_OK) {
        status = cli_fail("admin lists: offpayd's trust bundle under --root",
                          rc);
        goto out;
    }
    rc = offpay_revlist_decode(list, llen, &rl);
    if (rc == OFFPAY_OK)
        rc = offpay_revlist_verify(&b, &rl);
    if (rc != OFFPAY_OK) {
        status = cli_fail("admin lists: offpayd's revocation list", rc);
        goto out;
    }
    /* DIR is made when missing; the two lists are replaced each time (a
     * refresh is what this is for), readable by all: they are public, and
     * signed */
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "offpay: admin lists: cannot make --out-dir %s: %s\n",
                dir, strerror(errno));
        goto out;
    }
    for (int k = 0; k < 2; k++) {
        snprintf(path, sizeof path, "%s/%s", dir,
                 k == 0 ? "bundle.opb" : "revlist.opb");
        if (cli_write_file(path, k == 0 ? bundle : list,
                           k == 0 ? blen : llen) != 0)
            goto out;
        if (chmod(path, 0644) != 0) {
            fprintf(stderr,
                    "offpay: admin lists: cannot make %s readable "
                    "by all: %s\n",
                    path, strerror(errno));
            goto out;
        }
    }
    printf("trust bundle %u (%u key%s) and revocation list %u (%u "
           "serial%s revoked) from %s, checked under the root key, written "
           "to %s/bundle.opb and %s/revlist.opb\n"
           "an air-gapped terminal takes them with: offpay terminal sync "
           "--bundle %s/bundle.opb --revlist %s/revlist.opb\n",
           b.seq, (unsigned)b.n_keys, b.n_keys == 1 ? "" : "s", rl.seq,
           rl.n_serials, rl.n_serials == 1 ? "" : "s", server, dir, dir, dir,
           dir);
    status = EXIT_OK;
out:
    offpay_revlist_free(&rl);
    free(bundle);
    free(list);
    return status;
}

/* A period's end as offpayd takes it: --to when given, else until now,
 * or [from, from] for a from ahead. */
static uint32_t period_end(int have_to, uint64_t to, uint64_t from,
                           uint32_t now)
{
    return have_to ? (uint32_t)to : now > from ? now : (uint32_t)from;
}

int cli_admin(int argc, char **argv)
{
    static const struct option opts[] = {
        {"db", required_argument, NULL, 'd'},
        {"shards", required_argument, NULL, 'D'},
        {"json", no_argument, NULL, 'j'},
        {"serial", required_argument, NULL, 's'},
        {"kind", required_argument, NULL, 'k'},
        {"since", required_argument, NULL, 'S'},
        {"after", required_argument, NULL, 'a'},
        {"limit", required_argument, NULL, 'n'},
        {"bundle", required_argument, NULL, 'b'},
        {"out", required_argument, NULL, 'o'},
        {"force", no_argument, NULL, 'f'},
        {"server", required_argument, NULL, 'u'},
        {"token-file", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {"currency", required_argument, NULL, 'c'},
        {"expires", required_argument, NULL, 'e'},
        {"account", required_argument, NULL, 'A'},
        {"now", no_argument, NULL, 'N'},
        {"presentment", required_argument, NULL, 'P'},
        {"amount", required_argument, NULL, 'm'},
        {"ref", required_argument, NULL, 'r'},
        {"key", required_argument, NULL, 'K'},
        {"funded", no_argument, NULL, 'F'},
        {"by", required_argument, NULL, 'B'},
        {"merchant", required_argument, NULL, 'M'},
        {"reason", required_argument, NULL, 'R'},
        {"terminal-id", required_argument, NULL, 'T'},
        {"from", required_argument, NULL, 'x'},
        {"to", required_argument, NULL, 'y'},
        {"terminal", required_argument, NULL, 'z'},
        {"chain", no_argument, NULL, 'C'},
        {"into", required_argument, NULL, 'I'},
        {"drop", no_argument, NULL, 'X'},
        {"by-day", no_argument, NULL, 'Y'},
        {"tz", required_argument, NULL, 'Z'},
        {"csv", no_argument, NULL, 'V'},
        {"take-held", no_argument, NULL, 'H'},
        {"open", no_argument, NULL, 'p'},
        {"closed", no_argument, NULL, 'q'},
        {"note", required_argument, NULL, 'w'},
        {"close", required_argument, NULL, 'L'},
        {"reopen", required_argument, NULL, 'O'},
        {"stale", required_argument, NULL, 'G'},
        {"label", required_argument, NULL, 'U'},
        {"upto", required_argument, NULL, 'g'},
        {"expect", required_argument, NULL, 'E'},
        {"vouch", no_argument, NULL, 'Q'},
        {"action", required_argument, NULL, 'W'},
        {"expect-actions", required_argument, NULL, 'e' + 256},
        {"subject", required_argument, NULL, 'J'},
        {NULL, 0, NULL, 0},
    };
    static char    prog[] = "offpay admin";
    const char    *currency = NULL;
    uint64_t       expires = 0, account = 0;
    const char    *db = NULL, *cmd, *positional = NULL, *shards = NULL;
    const char    *own = NULL; /* the command's own options */
    static char       shards_db[4096 + 8], shown[LEDGER_SHOWN_MAX];
    offpay_ledger *l = NULL;
    admin_args     a;
    refund_args    q = {0, NULL, NULL, NULL, 0};
    offpay__statement st; /* statement: --merchant, --from ... */
    uint64_t          to = 0, from = 0, term = 0;
    int               have_to = 0;
    uint64_t       seen = 0, x = 0, case_id = 0, by = 1000000, merchant = 0;
    uint64_t       terminal_id = 0;
    uint64_t           stale_hours = 0; /* terminals --stale */
    const char        *label = NULL;    /* label-terminal --label */
    uint64_t           upto = 0;        /* digest --upto */
    const char        *expect = NULL;   /* digest --expect */
    const char          *expect_actions = NULL; /* digest --expect-actions */
    int                vouch = 0;       /* release --vouch */
    int            chain = 0; /* revoke-terminal --chain */
    int               drop = 0;  /* marks --drop */
    int               by_day = 0; /* report --by-day */
    const char        *tz = NULL;  /* report --by-day --tz ZONE */
    int                csv = 0;    /* report --csv */
    int                take_held = 0; /* withdraw --take-held */
    const char    *reason = NULL;
    const char       *into = NULL; /* copy-ledger --into */
    offpay_case_action act = 0;     /* case --note, --close, --reopen */
    const char        *act_text = NULL, *act_by = NULL;
    char               who[OFFPAY_CASE_AUTHOR_MAX + 1]; /* login_name's */
    char               actor[OFFPAY_CASE_AUTHOR_MAX + sizeof ACTOR_SUFFIX];
    offpay_action_filter af; /* actions: --action, --subject, --after */
    int            json = 0, c, status, bad = 0;
    offpay_err     rc;

    memset(&a, 0, sizeof a);
    memset(&af, 0, sizeof af);
    a.limit = 100;
    if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        if (argc < 2)
            return cli_usage_error("admin: give a command (audit, release, "
                                   "cases, case, evidence, enroll-code, "
                                   "revoke-wallet, credential, "
                                   "revoke-credential, close-merchant, "
                                   "label-terminal, revoke-terminal, "
                                   "transfers, statement, "
                                   "report, guarantee, balances, digest, "
                                   "refund, deposit, "
                                   "withdraw, "
                                   "merchants, accounts, lists, backup, "
                                   "copy-ledger, unseal, skip-ids, marks, "
                                   "terminals, keys, actions)");
        fputs(help, stdout);
        fputs(cli_exit_help, stdout);
        return EXIT_OK;
    }
    cmd = argv[1];
    if (strcmp(cmd, "lists") == 0)
        return admin_lists(argc, argv);
    for (size_t i = 0; own == NULL && i < sizeof commands / sizeof *commands;
         i++)
        if (strcmp(commands[i].name, cmd) == 0)
            own = commands[i].opts;
    if (own == NULL)
        return cli_usage_error("admin: unknown command '%s'", cmd);
    argv[1] = prog; /* getopt's messages name the whole command */
    optind = 1;
    while ((c = cli_getopt(argc - 1, argv + 1, opts, NULL, &seen)) != -1) {
        switch (c) {
        case 'd':
            db = optarg;
            break;
        case 'D':
            shards = optarg;
            break;
        case 'j':
            json = 1;
            break;
        case 's':
            bad = parse_u64("--serial", optarg, INT64_MAX, &a.f.serial);
            break;
        case 'k':
            if (offpay_case_kind_from_name(optarg, &a.f.kind) != OFFPAY_OK)
                bad = cli_usage_error(
                    "admin cases: --kind is one of duplicate, double_spend, "
                    "overspend, receipt_mismatch, charge_mismatch");
            break;
        case 'S':
            bad = parse_u64("--since", optarg, UINT32_MAX, &x);
            a.f.since = (uint32_t)x;
            break;
        case 'a':
            if (strcmp(cmd, "actions") == 0) {
                if (!offpay_action_cursor_parse(optarg, &af))
                    bad = cli_usage_error("admin actions: --after is the "
                                          "'more: --after AT.SHARD.ID' of "
                                          "the page before");
                break;
            }
            bad = parse_u64("--after", optarg, INT64_MAX, &a.f.after_id);
            break;
        case 'W':
            af.action = optarg;
            if (!offpay__action_name_ok(optarg))
                bad = cli_usage_error("admin actions: --action is one of %s",
                                      offpay__action_names_text);
            break;
        case 'J':
            bad = parse_u64("--subject", optarg, INT64_MAX, &af.subject);
            if (!bad && af.subject == 0)
                bad = cli_usage_error("admin actions: --subject is an id from "
                                      "1 (a serial, a terminal, a merchant "
                                      "or an account)");
            break;
        case 'n':
            bad = parse_u64("--limit", optarg, 10000, &a.limit);
            if (!bad && a.limit == 0)
                bad = cli_usage_error("admin %s: --limit is 1..10000", cmd);
            break;
        case 'b':
            a.bundle = optarg;
            break;
        case 'o':
            a.out = optarg;
            break;
        case 'f':
            a.force = 1;
            break;
        case 'u':
            a.server = optarg;
            bad = cli_server_url("--server", optarg) != 0;
            break;
        case 't':
            a.token_file = optarg;
            break;
        case 'c':
            currency = optarg;
            break;
        case 'e':
            bad = parse_u64("--expires", optarg, UINT32_MAX, &expires);
            break;
        case 'A':
            bad = parse_u64("--account", optarg, INT64_MAX, &account);
            break;
        case 'P':
            bad = parse_u64("--presentment", optarg, INT64_MAX, &q.presentment);
            break;
        case 'm':
            q.amount = optarg;
            break;
        case 'r':
            q.ref = optarg;
            /* kept with what it names and shown on one line, as offpayd
             * takes a request's ref */
            if (!offpay__text_ok(optarg, OFFPAY_LEDGER_REF_MAX))
                bad = cli_usage_error("admin %s: --ref is 1 to 128 bytes of "
                                      "text on one line, without control or "
                                      "invisible format characters",
                                      cmd);
            break;
        case 'F':
            q.funded = 1;
            break;
        case 'C':
            chain = 1;
            break;
        case 'g':
            bad = parse_u64("--upto", optarg, INT64_MAX, &upto);
            if (!bad && upto == 0)
                bad = cli_usage_error("admin digest: --upto is a transfer id "
                                      "from 1 (leave it out for each "
                                      "shard's last transfer mark)");
            break;
        case 'E':
            expect = optarg;
            break;
        case 'e' + 256:
            expect_actions = optarg;
            break;
        case 'Q':
            vouch = 1;
            break;
        case 'U':
            /* an empty one (a shell variable not set) clears nothing:
             * leaving --label out does */
            label = optarg;
            if (!offpay__terminal_label_ok(label))
                bad = cli_usage_error("admin label-terminal: --label is 1 to "
                                      "64 bytes of text on one line, without "
                                      "control or invisible format "
                                      "characters or spaces at its ends "
                                      "(leave --label out to clear it)");
            break;
        case 'G':
            bad = parse_u64("--stale", optarg, 100000, &stale_hours);
            if (!bad && stale_hours == 0)
                bad = cli_usage_error("admin terminals: --stale is a "
                                      "number of hours from 1");
            break;
        case 'X':
            drop = 1;
            break;
        case 'Y':
            by_day = 1;
            break;
        case 'Z':
            tz = optarg;
            break;
        case 'V':
            csv = 1;
            break;
        case 'H':
            take_held = 1;
            break;
        case 'p':
        case 'q':
            if (a.f.state != OFFPAY_CASES_ANY)
                bad = cli_usage_error("admin cases: give --open or --closed, "
                                      "not both");
            a.f.state = c == 'p' ? OFFPAY_CASES_OPEN : OFFPAY_CASES_CLOSED;
            break;
        case 'w':
        case 'L':
        case 'O':
            if (act != 0)
                bad = cli_usage_error("admin case: give one of --note, "
                                      "--close and --reopen");
            act = c == 'w'   ? OFFPAY_CASE_NOTE
                  : c == 'L' ? OFFPAY_CASE_CLOSE
                             : OFFPAY_CASE_REOPEN;
            act_text = optarg;
            if (!offpay__case_text_ok(optarg))
                bad = cli_usage_error(
                    "admin case: --%s is 1 to %u bytes of text on one line, "
                    "without control or invisible format characters",
                    offpay_case_action_name(act), OFFPAY_CASE_TEXT_MAX);
            break;
        case 'I':
            into = optarg;
            break;
        case 'K':
            q.key = optarg;
            if (!offpay_ledger_request_key_ok(optarg))
                bad = cli_usage_error("admin %s: --key is 1 to %d "
                                      "printable ASCII characters, no space "
                                      "(a reference with its spaces "
                                      "replaced: bank-transfer-881)",
                                      cmd, OFFPAY_REQUEST_KEY_MAX);
            break;
        case 'M':
            bad = parse_u64("--merchant", optarg, INT64_MAX, &merchant);
            break;
        case 'R':
            reason = optarg;
            if (strlen(optarg) > OFFPAY_LEDGER_REF_MAX)
                bad = cli_usage_error("admin %s: --reason is at most 128 "
                                      "bytes",
                                      cmd);
            else if (!offpay__revoke_reason_ok(optarg))
                /* kept by the ledger and shown on one line (offpayd
                 * refuses the same in a request's reason) */
                bad = cli_usage_error("admin %s: --reason is 1 to 128 bytes "
                                      "of text, without control or invisible "
                                      "format characters",
                                      cmd);
            break;
        case 'T':
            bad = parse_u64("--terminal-id", optarg, UINT32_MAX, &terminal_id);
            break;
        case 'x':
            bad = parse_u64("--from", optarg, UINT32_MAX, &from);
            break;
        case 'y':
            bad = parse_u64("--to", optarg, UINT32_MAX, &to);
            have_to = 1;
            break;
        case 'z':
            bad = parse_u64("--terminal", optarg, UINT32_MAX, &term);
            if (!bad && term == 0)
                bad = cli_usage_error("admin %s: --terminal is a terminal id "
                                      "from 1",
                                      cmd);
            break;
        case 'B':
            if (strcmp(cmd, "skip-ids") != 0) { /* --by NAME */
                /* a booking's name carries ACTOR_SUFFIX */
                unsigned max =
                    strcmp(cmd, "case") == 0 ||
                            strcmp(cmd, "void-codes") == 0 ||
                            strcmp(cmd, "actions") == 0
                        ? OFFPAY_CASE_AUTHOR_MAX
                        : OFFPAY_ACTOR_MAX - (unsigned)strlen(ACTOR_SUFFIX);

                act_by = optarg;
                if (!offpay__case_author_ok(optarg) || strlen(optarg) > max)
                    bad = cli_usage_error(
                        "admin %s: --by is 1 to %u bytes of text on one "
                        "line, without control or invisible format "
                        "characters",
                        cmd, max);
                break;
            }
            bad = parse_u64("--by", optarg, OFFPAY_LEDGER_SKIP_MAX, &by);
            if (!bad && by == 0)
                bad = cli_usage_error("admin skip-ids: --by is 1..%u",
                                      OFFPAY_LEDGER_SKIP_MAX);
            break;
        case 'N': /* release --now: what release does; said for clarity */
            if (strcmp(cmd, "release") != 0)
                bad = cli_usage_error("admin %s: --now is for release", cmd);
            break;
        case 'h':
            /* backup, copy-ledger and unseal take a SQLite file only */
            command_help(cmd,
                         strcmp(cmd, "backup") == 0 ||
                                 strcmp(cmd, "copy-ledger") == 0 ||
                                 strcmp(cmd, "unseal") == 0
                             ? "db json"
                             : "db shards json",
                         own);
            fputs(cli_exit_help, stdout);
            return EXIT_OK;
        case CLI_OPT_TWICE:
            return EXIT_USAGE;
        default:
            return cli_usage_error("admin %s: bad option", cmd);
        }
    }
    if (bad)
        return EXIT_USAGE;
    if (db != NULL)
        password_warning("--db", db);
    {
        char what[64];

        snprintf(what, sizeof what, "admin %s", cmd);
        /* the audit is of now: a past date's money is the balance sheet */
        if (strcmp(cmd, "audit") == 0 && (have_to || from != 0))
            return cli_usage_error(
                "admin audit: the audit reads the ledger as it is now and "
                "takes no --from or --to; the money by kind of account at a "
                "past date: offpay admin balances --db LEDGER --to T");
        status = cli_only_opts(what, "db shards json", own, "admin");
        if (status != 0)
            return status;
    }
    if ((strcmp(cmd, "deposit") == 0 || strcmp(cmd, "withdraw") == 0) &&
        (account == 0 || q.amount == NULL))
        return cli_usage_error("admin %s: give --account N (an id from 1) "
                               "and --amount AMOUNT",
                               cmd);
    if (strcmp(cmd, "refund") == 0 && (q.presentment == 0 || q.amount == NULL))
        return cli_usage_error("admin refund: give --presentment N (an id "
                               "from 1) and --amount AMOUNT");
    /* getopt moved the positional arguments to the end: argv + 1 is the
     * command's vector, so the first is at argv[optind + 1]. */
    if (optind < argc - 1)
        positional = argv[optind + 1];
    if (strcmp(cmd, "case") == 0) {
        if (positional == NULL)
            return cli_usage_error("admin case: give the CASE id");
        if (optind + 1 < argc - 1)
            return cli_usage_error("admin case: unexpected argument '%s'",
                                   argv[optind + 2]);
        if (parse_u64("CASE", positional, INT64_MAX, &case_id) != 0)
            return EXIT_USAGE;
        if (case_id == 0)
            return cli_usage_error("admin case: CASE is an id from 1");
        if (act_by != NULL && act == 0)
            return cli_usage_error("admin case: --by names who takes a step: "
                                   "give --note, --close or --reopen with it");
        if (a.server != NULL) {
            if (db != NULL || shards != NULL)
                return cli_usage_error("admin case: --server asks offpayd, "
                                       "not --db");
            if (a.token_file == NULL)
                return cli_usage_error("admin case: --server needs "
                                       "--token-file FILE");
            return case_remote(&a, case_id, act, act_text, act_by, json);
        }
    } else if (strcmp(cmd, "evidence") == 0) {
        if (positional == NULL)
            return cli_usage_error("admin evidence: give the CASE id");
        if (optind + 1 < argc - 1)
            return cli_usage_error("admin evidence: unexpected argument '%s'",
                                   argv[optind + 2]);
        if (parse_u64("CASE", positional, INT64_MAX, &case_id) != 0)
            return EXIT_USAGE;
        if (case_id == 0)
            return cli_usage_error("admin evidence: CASE is an id from 1");
        if (a.server != NULL) {
            if (db != NULL || a.bundle != NULL)
                return cli_usage_error("admin evidence: --server reads "
                                       "offpayd, not --db or --bundle");
            if (a.token_file == NULL || a.out == NULL)
                return cli_usage_error("admin evidence: --server needs "
                                       "--token-file FILE and --out FILE");
        } else if (db == NULL && shards == NULL) {
            return cli_usage_error(
                "admin evidence: read the ledger (--db LEDGER --bundle FILE "
                "--out FILE) or ask offpayd (--server URL --token-file FILE "
                "--out FILE)");
        } else if (a.bundle == NULL || a.out == NULL) {
            return cli_usage_error(
                "admin evidence: with --db, %s required",
                a.bundle == NULL && a.out == NULL ? "--bundle FILE and --out "
                                                    "FILE are"
                : a.bundle == NULL                ? "--bundle FILE is"
                                                  : "--out FILE is");
        }
        status = cli_output_check("--out", a.out, a.force);
        if (status != EXIT_OK)
            return status;
        if (a.server != NULL && act_by != NULL)
            return cli_usage_error("admin evidence: --by names who exports "
                                   "it from the ledger (--db); offpayd keeps "
                                   "the operator whose token it was");
        if (a.server != NULL)
            return evidence_remote(&a, case_id);
    } else if (strcmp(cmd, "cases") == 0 && a.server != NULL) {
        if (positional != NULL)
            return cli_usage_error("admin cases: unexpected argument '%s'",
                                   positional);
        if (db != NULL)
            return cli_usage_error("admin cases: --server reads offpayd, "
                                   "not --db");
        if (a.token_file == NULL)
            return cli_usage_error("admin cases: --server needs "
                                   "--token-file FILE");
        a.json = json;
        return cases_remote(&a);
    } else if (strcmp(cmd, "backup") == 0) {
        if (positional != NULL)
            return cli_usage_error("admin backup: unexpected argument '%s'",
                                   positional);
        if (db == NULL || a.out == NULL || shards != NULL)
            return cli_usage_error("admin backup: give --db LEDGER (a "
                                   "SQLite file) and --out FILE");
        if (offpay_ledger_backend_of(db) != OFFPAY_LEDGER_SQLITE)
            return cli_usage_error(
                "admin backup: %s is not a SQLite ledger: copy a PostgreSQL "
                "ledger with PostgreSQL's own tools (pg_dump, or a standby; "
                "docs/operations.md)",
                ledger_shown(db, shown));
        return backup(db, a.out, json);
    } else if (strcmp(cmd, "copy-ledger") == 0) {
        if (positional != NULL)
            return cli_usage_error("admin copy-ledger: unexpected argument "
                                   "'%s'",
                                   positional);
        if (shards != NULL || (into != NULL && offpay_ledger_backend_of(into) ==
                                                   OFFPAY_LEDGER_SHARDS))
            return cli_usage_error(
                "admin copy-ledger: copies into one PostgreSQL database, not "
                "a sharded ledger: copy into the database that is to be "
                "shard 0, then start offpayd with a shard map whose first "
                "line names it (docs/scaling.md, \"Sharding by credential "
                "serial\")");
        if (db == NULL || into == NULL)
            return cli_usage_error("admin copy-ledger: give --db FILE (the "
                                   "SQLite ledger) and --into URL (the "
                                   "PostgreSQL database)");
        if (offpay_ledger_backend_of(db) != OFFPAY_LEDGER_SQLITE)
            return cli_usage_error(
                "admin copy-ledger: %s is not a SQLite ledger: a PostgreSQL "
                "ledger is copied with PostgreSQL's own tools (pg_dump)",
                ledger_shown(db, shown));
        if (offpay_ledger_backend_of(into) != OFFPAY_LEDGER_POSTGRES)
            return cli_usage_error("admin copy-ledger: --into is a PostgreSQL "
                                   "URL (postgresql://USER@HOST:PORT/DB)");
        password_warning("--into", into);
        return copy_ledger(db, into, json);
    } else if (strcmp(cmd, "unseal") == 0) {
        if (positional != NULL)
            return cli_usage_error("admin unseal: unexpected argument '%s'",
                                   positional);
        if (db == NULL || shards != NULL)
            return cli_usage_error("admin unseal: give --db FILE (the SQLite "
                                   "ledger copy-ledger sealed)");
        if (offpay_ledger_backend_of(db) != OFFPAY_LEDGER_SQLITE)
            return cli_usage_error(
                "admin unseal: %s is not a SQLite ledger: only a SQLite file "
                "is sealed, by copy-ledger",
                ledger_shown(db, shown));
        if ((into == NULL) == !a.force)
            return cli_usage_error(
                "admin unseal: give --into URL, the PostgreSQL database the "
                "file was copied into (the seal comes off only while it is "
                "still the copy), or --force (whatever became of it)");
        if (into != NULL &&
            offpay_ledger_backend_of(into) != OFFPAY_LEDGER_POSTGRES)
            return cli_usage_error("admin unseal: --into is a PostgreSQL "
                                   "URL (postgresql://USER@HOST:PORT/DB)");
        if (into != NULL)
            password_warning("--into", into);
        return unseal(db, into, a.force, json);
    } else if (a.server != NULL || a.token_file != NULL) {
        return cli_usage_error("admin %s: --server is for cases, case and "
                               "evidence only",
                               cmd);
    } else if (positional != NULL) {
        return cli_usage_error("admin %s: unexpected argument '%s'", cmd,
                               positional);
    }
    if (shards == NULL && db != NULL &&
        offpay_ledger_backend_of(db) == OFFPAY_LEDGER_SHARDS) {
        shards = db + 7; /* offpayd's --db shards:FILE */
        db = NULL;
    }
    if (shards != NULL) {
        offpay_shard_config *cfg;
        const char          *why = NULL;
        size_t               line = 0;

        if (db != NULL)
            return cli_usage_error("admin %s: give --db or --shards, not "
                                   "both",
                                   cmd);
        cfg = calloc(1, sizeof *cfg);
        if (cfg == NULL)
            return cli_fail("admin", OFFPAY_ENOMEM);
        rc = offpay_shard_config_load(shards, cfg, &line, &why);
        free(cfg);
        if (rc != OFFPAY_OK)
            return cli_usage_error("admin %s: %s:%zu: %s", cmd, shards, line,
                                   why);
        if (snprintf(shards_db, sizeof shards_db, "shards:%s", shards) >=
            (int)sizeof shards_db)
            return cli_usage_error("admin %s: --shards path too long", cmd);
        db = shards_db;
    }
    if (db == NULL)
        return cli_usage_error("admin %s: --db LEDGER is required", cmd);
    ledger_shown(db, shown);
    /* Opening makes a missing ledger (a SQLite file, a PostgreSQL
     * database's schema): an operator's typo must not audit a new, empty
     * one, nor create tables in another database. */
    rc = offpay_ledger_exists(db);
    if (no_ledger_file(db, rc))
        return EXIT_FAILURE_IO;
    if (rc == OFFPAY_ENOENT && offpay_ledger_backend_of(db) !=
                                   OFFPAY_LEDGER_SQLITE) {
        if (offpay_ledger_backend_of(db) == OFFPAY_LEDGER_SHARDS)
            fprintf(stderr,
                    "offpay: %s: a shard holds no offpay ledger (above): "
                    "give the map offpayd runs with (offpayd makes a new "
                    "shard's schema when it starts with a map that adds "
                    "it); nothing was created (ENOENT)\n",
                    shown);
        else
            fprintf(stderr,
                    "offpay: %s: no offpay ledger there (a database without "
                    "its schema): give offpayd's --db; nothing was created "
                    "(ENOENT)\n",
                    shown);
        return EXIT_FAILURE_IO;
    }
    if (rc != OFFPAY_OK)
        return cli_fail_at(NULL, "opening", shown, rc);
    {
        /* Opening migrates an older schema: not from here, under an
         * offpayd of the version before, which would then refuse the
         * ledger it runs on. */
        unsigned have = 0, want = 0;

        rc = offpay_ledger_schema(db, &have, &want);
        if (rc != OFFPAY_OK)
            return cli_fail_at(NULL, "opening", shown, rc);
        /* (skip-ids runs on a restored backup, with offpayd stopped: an
         * older one is brought to this version first, as offpayd would) */
        if (have != want && !(have < want && strcmp(cmd, "skip-ids") == 0)) {
            fprintf(stderr,
                    "offpay: %s: the ledger's schema is version %u, this "
                    "offpay's is %u: %s; nothing was changed (EVERSION)\n",
                    shown, have, want,
                    have < want
                        ? "if this is a backup being restored, run 'offpay "
                          "admin skip-ids' on it first (it upgrades it, and "
                          "no offpayd may serve it before: docs/operations.md "
                          "§4); else start the offpayd of this version "
                          "first (it upgrades the ledger when it starts), then "
                          "run this again"
                        : "the ledger was made by a newer offpay: "
                          "use that version");
            return EXIT_FAILURE_IO;
        }
    }
    rc = offpay_ledger_open(db, NULL, &l);
    if (rc != OFFPAY_OK)
        return cli_fail_at(NULL, "opening", shown, rc);
    /* who books: each transfer keeps it (settlement.md §1), and a case's
     * step, said to be offpay admin's claim, which no token checked */
    /* (void-codes' and actions' --by name whose codes and actions, not
     * who runs them) */
    if (act_by != NULL && strcmp(cmd, "void-codes") != 0 &&
        strcmp(cmd, "actions") != 0 &&
        strlen(act_by) > OFFPAY_ACTOR_MAX - strlen(ACTOR_SUFFIX)) {
        offpay_ledger_close(l);
        return cli_usage_error(
            "admin %s: --by is at most %u bytes on the "
            "ledger (kept as 'NAME" ACTOR_SUFFIX "')",
            cmd, OFFPAY_ACTOR_MAX - (unsigned)strlen(ACTOR_SUFFIX));
    }
    snprintf(actor, sizeof actor, "%s" ACTOR_SUFFIX,
             act_by != NULL && strcmp(cmd, "void-codes") != 0 &&
                     strcmp(cmd, "actions") != 0
                 ? act_by
                 : login_name(who));
    rc = strlen(actor) <= OFFPAY_ACTOR_MAX ? offpay_ledger_set_actor(l, actor)
                                           : OFFPAY_EINVAL;
    if (rc != OFFPAY_OK) {
        offpay_ledger_close(l);
        return cli_usage_error("admin %s: '%s' is no name a booking keeps "
                               "(1 to %u bytes of text on one line): give "
                               "--by NAME",
                               cmd, actor, OFFPAY_ACTOR_MAX);
    }
    a.db = db;
    a.json = json;
    if (strcmp(cmd, "audit") == 0)
        status = audit(l, json);
    else if (strcmp(cmd, "release") == 0)
        status = release(l, vouch, json);
    else if (strcmp(cmd, "skip-ids") == 0)
        status = skip_ids(l, by, json);
    else if (strcmp(cmd, "marks") == 0)
        status = marks(l, drop, json);
    else if (strcmp(cmd, "void-codes") == 0)
        status = void_codes(l, act_by, json);
    else if (strcmp(cmd, "terminals") == 0)
        status = terminals(l, merchant, stale_hours, json);
    else if (strcmp(cmd, "keys") == 0)
        status = keys(l, json);
    else if (strcmp(cmd, "cases") == 0)
        status = cases(l, &a);
    else if (strcmp(cmd, "enroll-code") == 0)
        status = enroll_code(l, currency, expires, q.ref, account, json);
    else if (strcmp(cmd, "revoke-wallet") == 0)
        status = revoke_wallet(l, account, json);
    else if (strcmp(cmd, "credential") == 0)
        status = credential(l, a.f.serial, json);
    else if (strcmp(cmd, "revoke-credential") == 0)
        status = revoke_credential(l, a.f.serial, reason, json);
    else if (strcmp(cmd, "revoke-terminal") == 0)
        status = revoke_terminal(l, shown, terminal_id, chain, reason, json);
    else if (strcmp(cmd, "label-terminal") == 0)
        status = label_terminal(l, terminal_id, label, json);
    else if (strcmp(cmd, "close-merchant") == 0)
        status = close_merchant(l, merchant, json);
    else if (strcmp(cmd, "transfers") == 0)
        status = transfers(l, account, (uint32_t)from,
                           have_to ? (uint32_t)to : UINT32_MAX, &a);
    else if (strcmp(cmd, "statement") == 0) {
        memset(&st, 0, sizeof st);
        st.merchant = merchant;
        st.from = (uint32_t)from;
        st.now = cli_now();
        st.to = period_end(have_to, to, from, st.now);
        st.terminal = (uint32_t)term;
        st.after = a.f.after_id;
        status = json && csv ? cli_usage_error("admin statement: give --json "
                                               "or --csv, not both")
                             : statement(l, &st, json, csv);
    } else if (strcmp(cmd, "report") == 0 && json && csv) {
        status = cli_usage_error("admin report: give --json or --csv, not "
                                 "both");
    } else if (strcmp(cmd, "report") == 0) {
        status = report(l, (uint32_t)from,
                        period_end(have_to, to, from, cli_now()), by_day, tz,
                        json  ? REPORT_JSON
                        : csv ? REPORT_CSV
                              : 0);
    } else if (strcmp(cmd, "digest") == 0) {
        status = digest(l, upto, have_to ? (uint32_t)to : UINT32_MAX, expect,
                        expect_actions, json);
    } else if (strcmp(cmd, "balances") == 0) {
        status = balances(l, (uint32_t)from,
                          period_end(have_to, to, from, cli_now()), json);
    } else if (strcmp(cmd, "guarantee") == 0) {
        uint32_t now = cli_now();

        status = guarantee(l, currency, (uint32_t)from,
                           period_end(have_to, to, from, now), now, json);
    } else if (strcmp(cmd, "refund") == 0)
        status = refund(l, &q, json);
    else if (strcmp(cmd, "deposit") == 0 || strcmp(cmd, "withdraw") == 0)
        status = move_money(l, account, &q, strcmp(cmd, "withdraw") == 0,
                            take_held, json);
    else if (strcmp(cmd, "actions") == 0) {
        af.who = act_by;
        af.from = (uint32_t)from;
        af.to = have_to ? (uint32_t)to : 0;
        af.max = (size_t)a.limit;
        status = have_to && (from > to || to == 0)
                     ? cli_usage_error("admin actions: --from is after --to, "
                                       "or --to is 0 (unix times, both "
                                       "included)")
                     : actions(l, &af, json);
    } else if (strcmp(cmd, "merchants") == 0)
        status = merchants(l, &a);
    else if (strcmp(cmd, "accounts") == 0)
        status = accounts(l, q.ref, &a);
    else if (strcmp(cmd, "case") == 0)
        status = case_show(l, case_id, act, act_text, actor, json);
    else
        status = evidence(l, &a, case_id);
    offpay_ledger_close(l);
    return status;
}
