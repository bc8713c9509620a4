/*
 * audit.c — the audit's queries (docs/settlement.md §10), written once in
 * SQL that SQLite and PostgreSQL both accept (subqueries in FROM are named;
 * a condition is turned into a number with CASE), and the facts they give.
 * Each backend runs them in order and hands the numbers to
 * offpay__audit_facts_from. The other reads both backends run as they
 * are (an escrow's flows, a refund's first read, the merchant list) are
 * here too.
 */
#include "settle/store.h"

/* Balances derived from transfers alone, per account: the moves summed
 * once per account (GROUP BY), then joined, so the audit reads the
 * transfers a fixed number of times. (A sum correlated with each account
 * read them all again per account whenever SQLite did not index the
 * moves: the imbalance query took 4 s on a ledger of 1,000 accounts and
 * 20,000 transfers, found by tests/sim.) */
#define BALANCES                                                               \
    "WITH moves(id, amount) AS ("                                              \
    "  SELECT credit, amount FROM transfers"                                   \
    "  UNION ALL SELECT debit, -amount FROM transfers),"                       \
    " sums(id, b) AS (SELECT id, SUM(amount) FROM moves GROUP BY id),"         \
    " bal AS (SELECT a.id, a.kind, a.currency, COALESCE(s.b, 0) AS b"          \
    "  FROM accounts a LEFT JOIN sums s ON s.id = a.id) "

/* What the guarantee paid or owes for credential c: its escrow's cover
 * (transfers y passing cover_cond) and what its presentments the
 * guarantee could not cover are owed, claims paid since or not
 * (presentments o passing pres_cond; §5, §13). */
#define GUARANTEE_OWED(c, cover_cond, pres_cond)                               \
    "(COALESCE((SELECT SUM(y.amount) FROM transfers y"                         \
    " WHERE y.credit = " c                                                     \
    ".escrow_account AND y.kind = 'cover' AND " cover_cond                     \
    "), 0) + COALESCE((SELECT SUM(o.charged - o.paid)"                         \
    " FROM presentments o WHERE o.serial = " c ".serial AND o.reason = 76"     \
    " AND " pres_cond "), 0))"

/* What the guarantee's claims paid presentment p since its settlement
 * (§5), through transfers_claim. */
#define CLAIMED                                                                \
    "COALESCE((SELECT SUM(x.amount) FROM transfers x"                          \
    " WHERE x.presentment = p.id AND x.kind = 'claim'), 0)"

const char *const offpay__audit_sql[OFFPAY__AUDIT_QUERIES] = {
    "SELECT COUNT(*) FROM accounts",
    "SELECT COUNT(*) FROM transfers",
    BALANCES "SELECT COUNT(*) FROM (SELECT currency, SUM(b) AS s FROM bal"
             " GROUP BY currency) AS c WHERE s <> 0",
    /* wallet, escrow, merchant and guarantee accounts below zero: only
     * the world's balance may be (a merchant's goes down only by a
     * withdrawal or a refund, each refused when the balance, on its
     * shard, does not cover it; a funded refund deposits first) */
    BALANCES "SELECT COUNT(*) FROM bal WHERE kind IN (2, 3, 4, 5) AND b < 0",
    BALANCES "SELECT COUNT(*) FROM credentials c JOIN bal"
             " ON bal.id = c.escrow_account WHERE bal.b <> c.remaining",
    /* paid presentments without exactly one settle transfer of their
     * amount to their merchant, unpaid ones with any, and settle
     * transfers without a presentment; presentments whose covered part
     * differs from the cover transfers booked for them, and cover
     * transfers without a presentment (statements and the overview read
     * the stored covered) */
    "SELECT (SELECT COUNT(*) FROM presentments p"
    "  JOIN terminals t ON t.id = p.terminal"
    "  JOIN merchants m ON m.id = t.merchant"
    "  WHERE (SELECT COUNT(*) FROM transfers x WHERE x.presentment = p.id"
    "         AND x.kind = 'settle' AND x.amount = p.paid"
    "         AND x.credit = m.account)"
    "        <> CASE WHEN p.paid > 0 THEN 1 ELSE 0 END"
    "     OR (SELECT COUNT(*) FROM transfers x WHERE x.presentment = p.id"
    "         AND x.kind = 'settle')"
    "        <> CASE WHEN p.paid > 0 THEN 1 ELSE 0 END)"
    " + (SELECT COUNT(*) FROM transfers x WHERE x.kind = 'settle' AND"
    "    (x.presentment IS NULL OR NOT EXISTS (SELECT 1 FROM presentments p"
    "     WHERE p.id = x.presentment)))"
    /* (one grouped pass over the cover transfers, joined: a sum
     * correlated with each presentment would scan the transfers once per
     * presentment, since only settle transfers are indexed by it) */
    " + (SELECT COUNT(*) FROM presentments p LEFT JOIN"
    "    (SELECT x.presentment, SUM(x.amount) AS s FROM transfers x"
    "     WHERE x.kind = 'cover' GROUP BY x.presentment) AS cv"
    "    ON cv.presentment = p.id WHERE p.covered <> COALESCE(cv.s, 0))"
    " + (SELECT COUNT(*) FROM transfers x WHERE x.kind = 'cover' AND"
    "    (x.presentment IS NULL OR NOT EXISTS (SELECT 1 FROM presentments p"
    "     WHERE p.id = x.presentment)))"
    /* claims on the guarantee (015_guarantee_claims, settlement.md §5):
     * claim transfers not from a guarantee account to the merchant of a
     * presentment unpaid EFUNDS, and presentments paid more by them than
     * was owed (charged - paid): a claim paid twice */
    " + (SELECT COUNT(*) FROM transfers x WHERE x.kind = 'claim'"
    "    AND NOT EXISTS (SELECT 1 FROM presentments p"
    "     JOIN terminals t ON t.id = p.terminal"
    "     JOIN merchants m ON m.id = t.merchant"
    "     JOIN accounts a ON a.id = x.debit"
    "     WHERE p.id = x.presentment AND p.reason = 76 AND a.kind = 5"
    "     AND x.credit = m.account))"
    " + (SELECT COUNT(*) FROM presentments p JOIN"
    "    (SELECT x.presentment, SUM(x.amount) AS s FROM transfers x"
    "     WHERE x.kind = 'claim' GROUP BY x.presentment) AS cl"
    "    ON cl.presentment = p.id WHERE cl.s > p.charged - p.paid)",
    /* released escrows released more than once or not empty; release
     * transfers out of escrows that were never released */
    BALANCES "SELECT (SELECT COUNT(*) FROM credentials c JOIN bal"
             "  ON bal.id = c.escrow_account WHERE c.released_at IS NOT NULL"
             "  AND (bal.b <> 0 OR (SELECT COUNT(*) FROM transfers x"
             "   WHERE x.kind = 'release' AND x.debit = c.escrow_account) > 1))"
             " + (SELECT COUNT(*) FROM transfers x JOIN credentials c"
             "  ON c.escrow_account = x.debit WHERE x.kind = 'release'"
             "  AND c.released_at IS NULL)",
    /* request keys (005_request_keys) that name nothing their request
     * booked: a deposit or withdrawal without its transfer of that kind
     * and at most the request's amount (a split deposit's part is less),
     * a deposit marked passed over, an allowance or issue without its
     * credential of that wallet account and limit, a refund without its
     * first refund transfer (009_refunds); a merchant's key without its
     * merchant of that name and currency, a wallet account's without its
     * wallet account of that currency and ref, a terminal's without its
     * terminal of the merchant it names (017_request_keys_made); not a
     * key's claim on a sharded ledger's shard 0 ("claim/KEY",
     * src/settle/ledger.c), which names no money */
    "SELECT COUNT(*) FROM request_keys r WHERE r.request_key NOT LIKE"
    " 'claim/%' AND ("
    " (r.op IN (1, 2) AND r.result <> 0 AND NOT EXISTS (SELECT 1"
    "   FROM transfers x WHERE x.id = r.result AND x.amount <= r.amount"
    "   AND x.kind = CASE WHEN r.op = 1 THEN 'deposit' ELSE 'withdraw' END))"
    " OR (r.op = 1 AND r.result = 0)"
    " OR (r.op = 3 AND NOT EXISTS (SELECT 1 FROM credentials c"
    "   WHERE c.serial = r.result AND c.wallet_account = r.account"
    "   AND c.lim = r.amount))"
    /* a refund without its first refund transfer, of its presentment
     * and at most its amount (a refund split between the guarantee and
     * the wallet account books two) */
    " OR (r.op IN (4, 5) AND NOT EXISTS (SELECT 1 FROM transfers x"
    "   WHERE x.id = r.result AND x.kind = 'refund'"
    "   AND x.presentment = r.account AND x.amount <= r.amount))"
    /* a funded refund without the deposit booked before it */
    " OR (r.op = 5 AND NOT EXISTS (SELECT 1 FROM transfers x"
    "   WHERE x.kind = 'deposit' AND x.presentment = r.account"
    "   AND x.amount = r.amount AND x.id < r.result))"
    " OR (r.op = 6 AND NOT EXISTS (SELECT 1 FROM merchants m"
    "   WHERE m.id = r.result AND m.currency = r.account"
    "   AND m.name = r.request))"
    " OR (r.op = 7 AND NOT EXISTS (SELECT 1 FROM accounts a"
    "   WHERE a.id = r.result AND a.kind = 2 AND a.currency = r.account"
    "   AND a.ref = r.request))"
    " OR (r.op = 8 AND NOT EXISTS (SELECT 1 FROM terminals t"
    "   WHERE t.id = r.result AND t.merchant = r.account)))",
    /* refunds (009_refunds, docs/settlement.md §13): refund transfers
     * that do not move money from their presentment's merchant to its
     * credential's wallet account or to a guarantee account; presentments
     * refunded beyond what was paid (at settlement and by claims since);
     * credentials whose presentments' refunds gave the guarantee more than it
     * paid for them (cover and claims); refund transfers into the wallet
     * account booked while the guarantee's money paid for the credential before
     * them (lower ids) was not all back */
    "SELECT (SELECT COUNT(*) FROM transfers x WHERE x.kind = 'refund'"
    "  AND NOT EXISTS (SELECT 1 FROM presentments p"
    "   JOIN terminals t ON t.id = p.terminal"
    "   JOIN merchants m ON m.id = t.merchant"
    "   JOIN credentials c ON c.serial = p.serial"
    "   JOIN accounts a ON a.id = x.credit"
    "   WHERE p.id = x.presentment AND x.debit = m.account"
    "   AND (x.credit = c.wallet_account OR a.kind = 5)))"
    " + (SELECT COUNT(*) FROM presentments p JOIN"
    "    (SELECT x.presentment, SUM(x.amount) AS s FROM transfers x"
    "     WHERE x.kind = 'refund' GROUP BY x.presentment) AS rf"
    "    ON rf.presentment = p.id WHERE rf.s > p.paid + " CLAIMED ")"
    /* clang-format off */
    " + (SELECT COUNT(*) FROM credentials c JOIN"
    "    (SELECT o.serial, SUM(x.amount) AS g FROM transfers x"
    "     JOIN accounts a ON a.id = x.credit AND a.kind = 5"
    "     JOIN presentments o ON o.id = x.presentment"
    "     WHERE x.kind = 'refund' GROUP BY o.serial) AS rg"
    "    ON rg.serial = c.serial"
    "    WHERE rg.g > " GUARANTEE_OWED("c", "1 = 1", "1 = 1") ")"
    /* a claim counts from its presentment's upload, once that is more
     * than 60 s before the refund: a row is dated with its request's
     * time and may commit up to then after it (OFFPAY__PERIOD_FINAL_AFTER,
     * src/settle/render.h), so a claim dated before a refund may have
     * come after it, unseen by it */
    " + (SELECT COUNT(*) FROM transfers x"
    "    JOIN accounts a ON a.id = x.credit"
    "    JOIN presentments p ON p.id = x.presentment"
    "    JOIN credentials c ON c.serial = p.serial"
    "    WHERE x.kind = 'refund' AND a.kind <> 5"
    "    AND " GUARANTEE_OWED("c", "y.id < x.id", "o.uploaded_at + 60 < x.at")
    "    > COALESCE((SELECT SUM(y.amount) FROM presentments o"
    "     JOIN transfers y ON y.presentment = o.id AND y.kind = 'refund'"
    "     JOIN accounts b ON b.id = y.credit AND b.kind = 5"
    "     WHERE o.serial = c.serial AND y.id < x.id), 0))",
    /* clang-format on */
    /* the newest transfer's time: how recent the ledger (a backup) is */
    "SELECT COALESCE(MAX(at), 0) FROM transfers",
    /* marks (019_balance_marks) the transfers do not bear out: balance
     * marks other than their account's transfers up to them; transfer
     * marks whose latest_at is before a transfer's time up to them (each
     * against the mark before it: latest_at never goes back and covers
     * the transfers between the two); marks above the highest transfer
     * id (a transfer made since would be left out of the balance), and
     * balance marks at no transfer mark (the job makes both at once) */
    "SELECT (SELECT COUNT(*) FROM balance_marks k"
    "  WHERE k.upto > (SELECT COALESCE(MAX(id), 0) FROM transfers)"
    "  OR NOT EXISTS (SELECT 1 FROM transfer_marks t WHERE t.upto = k.upto))"
    " + (SELECT COUNT(*) FROM transfer_marks t"
    "  WHERE t.upto > (SELECT COALESCE(MAX(id), 0) FROM transfers))"
    " + (SELECT COUNT(*) FROM balance_marks k WHERE k.balance <>"
    "  (SELECT COALESCE(SUM(x.amount), 0) FROM transfers x"
    "   WHERE x.credit = k.account AND x.id <= k.upto)"
    "  - (SELECT COALESCE(SUM(x.amount), 0) FROM transfers x"
    "   WHERE x.debit = k.account AND x.id <= k.upto))"
    " + (SELECT COUNT(*) FROM (SELECT upto, latest_at,"
    "   LAG(upto, 1, 0) OVER (ORDER BY upto) AS pu,"
    "   LAG(latest_at, 1, 0) OVER (ORDER BY upto) AS pl"
    "   FROM transfer_marks) AS r WHERE r.latest_at < r.pl"
    "  OR r.latest_at < (SELECT COALESCE(MAX(x.at), 0) FROM transfers x"
    "   WHERE x.id > r.pu AND x.id <= r.upto))",
    /* 11 (since 0.24.0, 027_case_notes): cases whose closed_at is not the
     * time of their newest closing or reopening's closing (set with a
     * reopening newest or none, NULL with a closing newest, another
     * time), and closings and reopenings that do not alternate: a close
     * after a close, a reopen first or after a reopen */
    "SELECT (SELECT COUNT(*) FROM cases c WHERE"
    "  (CASE WHEN c.closed_at IS NULL THEN 0 ELSE 1 END) <> COALESCE("
    "   (SELECT CASE WHEN n.action = 'close' THEN 1 ELSE 0 END"
    "    FROM case_notes n WHERE n.case_id = c.id AND n.action <> 'note'"
    "    ORDER BY n.id DESC LIMIT 1), 0)"
    "  OR c.closed_at <> (SELECT n.at FROM case_notes n"
    "   WHERE n.case_id = c.id AND n.action <> 'note'"
    "   ORDER BY n.id DESC LIMIT 1))"
    " + (SELECT COUNT(*) FROM case_notes n WHERE n.action <> 'note' AND"
    "  COALESCE((SELECT q.action FROM case_notes q WHERE q.case_id ="
    "   n.case_id AND q.id < n.id AND q.action <> 'note'"
    "   ORDER BY q.id DESC LIMIT 1), 'reopen') = n.action)",
    /* 12 (since 0.25.0): results whose figures do not hold together —
     * a charge not above zero; not 0 <= covered <= paid <= charged; a
     * reason given exactly when paid is short of the charge; an outcome
     * that is no stored decision (rejected is never stored), settled
     * with a cover or short, settled_guaranteed without a cover or
     * short, unpaid paid in full; a charge above the code's authorized
     * amount where the presentment is of the payment's own bytes (a
     * double spend's other bytes are its own code) — and payments whose
     * charged is not the sum of their presentments' paid */
    "SELECT (SELECT COUNT(*) FROM presentments p"
    "  JOIN payments y ON y.id = p.payment WHERE p.charged <= 0"
    "  OR p.covered < 0 OR p.covered > p.paid OR p.paid > p.charged"
    "  OR (CASE WHEN p.paid < p.charged THEN 1 ELSE 0 END)"
    "   <> (CASE WHEN p.reason <> 0 THEN 1 ELSE 0 END)"
    "  OR p.outcome NOT IN (1, 2, 3, 4, 5)"
    "  OR (p.outcome = 1 AND (p.covered <> 0 OR p.paid <> p.charged))"
    "  OR (p.outcome = 2 AND (p.covered = 0 OR p.paid <> p.charged))"
    "  OR (p.outcome = 5 AND p.paid = p.charged)"
    "  OR (p.code IS NULL AND p.charged > y.authorized))"
    " + (SELECT COUNT(*) FROM payments y LEFT JOIN"
    "    (SELECT p.payment, SUM(p.paid) AS s FROM presentments p"
    "     GROUP BY p.payment) AS g ON g.payment = y.id"
    "   WHERE y.charged <> COALESCE(g.s, 0))",
    /* 13 (since 0.25.0): credentials not funded exactly once, by their
     * limit, from their wallet account (settlement.md §1: the escrow
     * backs the credential's promise), and fund transfers into anything
     * but a credential's escrow */
    "SELECT (SELECT COUNT(*) FROM credentials c WHERE"
    "  (SELECT COUNT(*) FROM transfers x WHERE x.credit = c.escrow_account"
    "   AND x.kind = 'fund') <> 1"
    "  OR NOT EXISTS (SELECT 1 FROM transfers x"
    "   WHERE x.credit = c.escrow_account AND x.kind = 'fund'"
    "   AND x.debit = c.wallet_account AND x.amount = c.lim))"
    " + (SELECT COUNT(*) FROM transfers x WHERE x.kind = 'fund'"
    "  AND NOT EXISTS (SELECT 1 FROM credentials c"
    "   WHERE c.escrow_account = x.credit))",
    /* 14 (since 0.31.0): the record of who did what agrees with itself
     * (settlement.md §1, "What operators did"): each booked_by row with
     * its 'book' action (that transfer, that name) and each such action
     * with its row; each case step with its
     * case action (that case, action, author and time) and each case
     * action with its step */
    "SELECT (SELECT COUNT(*) FROM booked_by b WHERE NOT EXISTS (SELECT 1"
    "  FROM operator_actions a WHERE a.subject = b.transfer"
    "  AND a.action = 'book' AND a.who = b.who))"
    " + (SELECT COUNT(*) FROM operator_actions a WHERE a.action = 'book'"
    "  AND NOT EXISTS (SELECT 1 FROM booked_by b"
    "   WHERE b.transfer = a.subject AND b.who = a.who))"
    " + (SELECT COUNT(*) FROM case_notes n WHERE NOT EXISTS (SELECT 1"
    "  FROM operator_actions a WHERE a.subject = n.case_id"
    "  AND a.action = 'case-' || n.action AND a.who = n.author"
    "  AND a.at = n.at))"
    " + (SELECT COUNT(*) FROM operator_actions a"
    "  WHERE a.action IN ('case-note', 'case-close', 'case-reopen')"
    "  AND NOT EXISTS (SELECT 1 FROM case_notes n WHERE n.case_id = a.subject"
    "   AND 'case-' || n.action = a.action AND n.author = a.who"
    "   AND n.at = a.at))",
};

/* The parameters are named once, first, in a CTE: SQLite numbers $N in
 * the order they appear, and the subqueries come before the WHERE. */
/* clang-format off */
const char offpay__refund_base_sql[] =
    "WITH q(id, replayed) AS (SELECT CAST($1 AS BIGINT), CAST($2 AS BIGINT))"
    /* paid: at settlement, and since by the guarantee's claims (§5: the
     * merchant holds that money too, and may give it back) */
    " SELECT p.serial, p.terminal, p.paid + " CLAIMED ", p.covered,"
    " COALESCE((SELECT SUM(x.amount) FROM transfers x"
    "  WHERE x.presentment = p.id AND x.kind = 'refund'), 0),"
    /* the guarantee's money not back on the credential: its escrow's
     * cover and what its presentments the guarantee could not cover are
     * owed (claims, paid or not), less the refunds of its presentments
     * into a guarantee */
    " " GUARANTEE_OWED("c", "1 = 1", "1 = 1")
    " - COALESCE((SELECT SUM(x.amount) FROM presentments o"
    "  JOIN transfers x ON x.presentment = o.id AND x.kind = 'refund'"
    "  JOIN accounts a ON a.id = x.credit"
    "  WHERE o.serial = p.serial AND a.kind = 5), 0),"
    /* the replayed refund's first transfer, when it went into a
     * guarantee (refund.c) */
    " COALESCE((SELECT x.amount FROM transfers x"
    "  JOIN accounts a ON a.id = x.credit"
    "  WHERE x.id = q.replayed AND x.presentment = p.id"
    "  AND x.kind = 'refund' AND a.kind = 5), 0)"
    " FROM presentments p JOIN credentials c ON c.serial = p.serial, q"
    " WHERE p.id = q.id";
/* clang-format on */

/* A merchant account's period (store.h): the account's transfers above
 * the last transfer mark (019_balance_marks) whose transfers are all dated
 * before the period, read through transfers_credit_id and
 * transfers_debit_id (the account and the mark as scalar subqueries, so
 * that both bound the index's range: joined as rows, SQLite read every
 * transfer above the mark, of every account, for the debit side): a
 * period reads what came since its start, not the account's whole
 * history. Its opening and closing balances are the
 * balance (OFFPAY__BALANCE_SQL) less what is dated from the start, and
 * after the end. */
#define PERIOD_Q                                                               \
    "WITH q(a, f, t) AS (SELECT CAST($1 AS BIGINT), CAST($2 AS BIGINT),"       \
    " CAST($3 AS BIGINT)), r(lo) AS (SELECT COALESCE((SELECT k.upto"           \
    " FROM transfer_marks k WHERE k.latest_at < q.f AND k.latest_at <= q.t"    \
    " ORDER BY k.latest_at DESC, k.upto DESC LIMIT 1), 0) FROM q) "
#define IN_PERIOD(kind_cond)                                                   \
    " COALESCE(SUM(CASE WHEN m.at >= q.f AND m.at <= q.t AND " kind_cond       \
    " THEN m.amount ELSE 0 END), 0)"
/* clang-format off */
const char offpay__period_sums_sql[] =
    PERIOD_Q ", m(amount, kind, at) AS ("
    " SELECT x.amount, x.kind, x.at FROM transfers x"
    "  WHERE x.credit = (SELECT a FROM q) AND x.id > (SELECT lo FROM r)"
    " UNION ALL SELECT -x.amount, x.kind, x.at FROM transfers x"
    "  WHERE x.debit = (SELECT a FROM q) AND x.id > (SELECT lo FROM r))"
    " SELECT (SELECT " OFFPAY__BALANCE_SQL("q.a") " FROM q)"
    " - COALESCE(SUM(CASE WHEN m.at >= q.f THEN m.amount ELSE 0 END), 0),"
    " (SELECT " OFFPAY__BALANCE_SQL("q.a") " FROM q)"
    " - COALESCE(SUM(CASE WHEN m.at > q.t THEN m.amount ELSE 0 END), 0),"
    IN_PERIOD("m.kind = 'settle'") ","
    IN_PERIOD("m.kind = 'refund'") ","
    IN_PERIOD("m.kind = 'deposit'") ","
    IN_PERIOD("m.kind = 'withdraw'") ","
    IN_PERIOD("m.kind NOT IN ('settle', 'refund', 'deposit', 'withdraw')")
    " FROM m, q";
/* clang-format on */

const char offpay__period_moves_sql[] = PERIOD_Q
    ", m(id, amount, other) AS ("
    " SELECT x.id, x.amount, x.debit FROM transfers x, q"
    "  WHERE x.credit = (SELECT a FROM q) AND x.id > (SELECT lo FROM r)"
    "  AND x.kind <> 'settle' AND x.at >= q.f AND x.at <= q.t"
    " UNION ALL SELECT x.id, -x.amount, x.credit FROM transfers x, q"
    "  WHERE x.debit = (SELECT a FROM q) AND x.id > (SELECT lo FROM r)"
    "  AND x.kind <> 'settle' AND x.at >= q.f AND x.at <= q.t)"
    " SELECT x.id, x.at, x.kind, x.debit, x.amount, x.presentment,"
    " " OFFPAY__TRANSFER_CASE(
        "x") ", x.ref, a.id, a.kind,"
             " " OFFPAY__TRANSFER_SERIAL("x") ", " OFFPAY__TRANSFER_BY(
                 "x") " FROM m JOIN transfers x ON x.id = m.id"
                      " JOIN accounts a ON a.id = m.other"
                      " LEFT JOIN presentments p ON p.id = x.presentment"
                      " ORDER BY x.at, x.id";

/* (the refunds into a guarantee of the credential's presentments read
 * through presentments_terminal and transfers_refund; its serial through
 * the credentials' unique escrow_account) */
const char offpay__escrow_flows_sql[] =
    "SELECT COALESCE(SUM(CASE WHEN kind = 'fund' THEN amount END), 0),"
    " COALESCE(SUM(CASE WHEN kind = 'late' THEN amount END), 0),"
    " COALESCE(SUM(CASE WHEN kind = 'cover' THEN amount END), 0),"
    " COALESCE(SUM(CASE WHEN kind = 'settle' THEN amount END), 0),"
    " COALESCE(SUM(CASE WHEN kind = 'release' THEN amount END), 0),"
    " (SELECT COALESCE(SUM(x.amount), 0) FROM credentials c"
    "  JOIN presentments p ON p.serial = c.serial"
    "  JOIN transfers x ON x.presentment = p.id AND x.kind = 'refund'"
    "  JOIN accounts a ON a.id = x.credit AND a.kind = 5"
    "  WHERE c.escrow_account = $1),"
    " COALESCE((SELECT c.serial FROM credentials c"
    "  WHERE c.escrow_account = $1), 0),"
    " (SELECT COALESCE(SUM(x.amount), 0) FROM credentials c"
    "  JOIN presentments p ON p.serial = c.serial"
    "  JOIN transfers x ON x.presentment = p.id AND x.kind = 'claim'"
    "  WHERE c.escrow_account = $1),"
    " (SELECT COALESCE(SUM(p.charged - p.paid), 0) FROM credentials c"
    "  JOIN presentments p ON p.serial = c.serial AND p.reason = 76"
    "  WHERE c.escrow_account = $1)"
    " FROM transfers WHERE credit = $1 OR debit = $1";

/* What wallet account $1 holds for the late presentments of credentials
 * released at $2 or after (store.h's late_hold). Those credentials are
 * found through the account's release transfers (transfers_credit_id),
 * not through its credentials: an account that takes a credential a day
 * has thousands, and reading each one's row to see when it was released
 * made every issue from the account slower as it aged. A release's
 * transfer is dated with the release (ledger.c, release_tx), so every
 * release at $2 or after is a transfer above the last transfer mark whose
 * transfers are all dated before $2 (019_balance_marks, as PERIOD_Q
 * above): the read covers the late window and one marking interval, not
 * the account's history (all of it before the marking job ran). A
 * release of nothing has no transfer and holds nothing. The account and
 * the mark are scalar subqueries, so that both bound the index's range;
 * the escrows are read once each, whatever their transfers. */
const char offpay__late_hold_sql[] =
    "WITH q(a, since) AS (SELECT CAST($1 AS BIGINT), CAST($2 AS BIGINT)),"
    " r(lo) AS (SELECT COALESCE((SELECT k.upto FROM transfer_marks k"
    "  WHERE k.latest_at < q.since ORDER BY k.latest_at DESC, k.upto DESC"
    "  LIMIT 1), 0) FROM q),"
    " e(escrow) AS (SELECT DISTINCT y.debit FROM transfers y"
    "  WHERE y.credit = (SELECT a FROM q) AND y.id > (SELECT lo FROM r)"
    "  AND y.kind = 'release')"
    " SELECT COALESCE(SUM(h.held), 0), COALESCE(MAX(h.released_at), 0)"
    " FROM (SELECT c.released_at,"
    "  COALESCE((SELECT SUM(x.amount) FROM transfers x"
    "   WHERE x.debit = c.escrow_account AND x.kind = 'release'), 0)"
    "  - COALESCE((SELECT SUM(x.amount) FROM transfers x"
    "   WHERE x.credit = c.escrow_account AND x.kind = 'late'), 0) AS held"
    "  FROM e JOIN credentials c ON c.escrow_account = e.escrow, q"
    "  WHERE c.wallet_account = q.a AND c.released_at IS NOT NULL"
    "  AND c.released_at >= q.since) h"
    " WHERE h.held > 0";

/* Money inside (the non-world balances) and deposits less withdrawals
 * (minus the world's balance), per currency: never one sum over several
 * currencies' minor units; and the transfers that make "deposits less
 * withdrawals" mean something else (counted by the debit's currency): a
 * deposit not from the world account into a wallet, merchant or
 * guarantee account of its currency, a withdrawal not the reverse, and
 * any other kind moving the world's money (settlement.md §10, rule 1; a
 * deposit booked from one payer to another kept every balance summing
 * right). */
const char offpay__audit_money_sql[] =
    BALANCES ", owed(currency, o) AS (SELECT c.currency,"
             " SUM(p.charged - p.paid - " CLAIMED ")"
             " FROM presentments p JOIN credentials c ON c.serial = p.serial"
             " WHERE p.reason = 76 GROUP BY c.currency),"
             " odd(currency, n) AS (SELECT d.currency, COUNT(*)"
             " FROM transfers x JOIN accounts d ON d.id = x.debit"
             " JOIN accounts k ON k.id = x.credit"
             " WHERE CASE WHEN x.kind = 'deposit' THEN NOT (d.kind = 1"
             "  AND k.kind IN (2, 4, 5) AND k.currency = d.currency)"
             " WHEN x.kind = 'withdraw' THEN NOT (k.kind = 1"
             "  AND d.kind IN (2, 4, 5) AND k.currency = d.currency)"
             " ELSE d.kind = 1 OR k.kind = 1 END"
             " GROUP BY d.currency)"
             " SELECT bal.currency,"
             " COALESCE(SUM(CASE WHEN kind <> 1 THEN b ELSE 0 END), 0),"
             " COALESCE(-SUM(CASE WHEN kind = 1 THEN b ELSE 0 END), 0),"
             " COALESCE(MAX(owed.o), 0), COALESCE(MAX(odd.n), 0)"
             " FROM bal LEFT JOIN owed ON owed.currency = bal.currency"
             " LEFT JOIN odd ON odd.currency = bal.currency"
             " GROUP BY bal.currency ORDER BY bal.currency";

/* The open claims (store.h): the presentments unpaid EFUNDS (76) through
 * presentments_owed, what was paid of each through transfers_claim. */
const char offpay__owed_open_sql[] =
    "WITH q(cur, after) AS (SELECT CAST($1 AS BIGINT), CAST($2 AS BIGINT))"
    " SELECT p.id, COALESCE(p.case_id, 0), m.account, c.currency,"
    " p.charged - p.paid - " CLAIMED ", p.serial, m.id, p.uploaded_at,"
    " p.charged"
    " FROM q, presentments p JOIN credentials c ON c.serial = p.serial"
    " JOIN terminals t ON t.id = p.terminal"
    " JOIN merchants m ON m.id = t.merchant"
    " WHERE p.reason = 76 AND p.id > q.after"
    " AND (q.cur = 0 OR c.currency = q.cur)"
    " AND p.charged - p.paid > " CLAIMED " ORDER BY p.id LIMIT $3";

/* The claims of currency $1 uploaded until $2, with what each still owed at
 * $2 (its charge less what settlement paid and the claim transfers dated
 * until $2), above presentment $3, at most $4, by id: what the guarantee
 * owed at a period's end, and the period's own claims (through
 * presentments_owed, the partial index of reason 76). Columns as
 * offpay__owed_open_sql's. */
const char offpay__owed_at_sql[] =
    "WITH q(cur, t, after) AS (SELECT CAST($1 AS BIGINT), CAST($2 AS BIGINT),"
    " CAST($3 AS BIGINT))"
    " SELECT p.id, COALESCE(p.case_id, 0), m.account, c.currency,"
    " p.charged - p.paid - COALESCE((SELECT SUM(x.amount) FROM transfers x"
    "  WHERE x.presentment = p.id AND x.kind = 'claim' AND x.at <= q.t), 0),"
    " p.serial, m.id, p.uploaded_at, p.charged"
    " FROM q, presentments p JOIN credentials c ON c.serial = p.serial"
    " JOIN terminals t ON t.id = p.terminal"
    " JOIN merchants m ON m.id = t.merchant"
    " WHERE p.reason = 76 AND p.id > q.after AND c.currency = q.cur"
    " AND p.uploaded_at <= q.t ORDER BY p.id LIMIT $4";

/* The balance sheet's groups (store.h): every transfer dated until $2
 * with its two accounts (by their primary keys), grouped by the debit's
 * currency, the debit's and credit's kinds, its own kind, and whether it
 * is dated before $1. A read of every transfer by design, as the audit's
 * (docs/settlement.md §10, "Balances at past dates"). */
const char offpay__sheet_sql[] =
    "WITH q(f, t) AS (SELECT CAST($1 AS BIGINT), CAST($2 AS BIGINT))"
    " SELECT d.currency, d.kind, k.kind, x.kind,"
    " CASE WHEN x.at < q.f THEN 0 ELSE 1 END, COUNT(*),"
    " CAST(SUM(x.amount) AS BIGINT)"
    " FROM q, transfers x JOIN accounts d ON d.id = x.debit"
    " JOIN accounts k ON k.id = x.credit"
    " WHERE x.at <= q.t GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 5, 4, 2, 3";

/* A page of transfers by id, whole, with their accounts' kinds and
 * currencies (store.h): the ledger's digest (offpay_ledger_digest),
 * through the primary keys. (A transfer whose account row is gone is not
 * read: the digest then differs.) */
const char offpay__transfers_range_sql[] =
    "SELECT x.id, x.debit, x.credit, x.amount, x.kind, x.presentment,"
    " x.case_id, x.ref, x.at, d.kind, d.currency, k.kind, k.currency"
    " FROM transfers x JOIN accounts d ON d.id = x.debit"
    " JOIN accounts k ON k.id = x.credit"
    " WHERE x.id > $1 AND x.id <= $2 ORDER BY x.id LIMIT $3";

void offpay__audit_money_add(offpay__audit_facts *f, int64_t currency,
                             int64_t inside, int64_t deposits_net, int64_t owed,
                             int64_t odd)
{
    if (inside != deposits_net || odd != 0)
        f->money_mismatch++;
    if (f->n_money == OFFPAY_AUDIT_CURRENCIES_MAX || currency < 0 ||
        currency > UINT16_MAX) {
        f->money_more = 1;
        return;
    }
    f->money[f->n_money].currency = (uint16_t)currency;
    f->money[f->n_money].inside = inside;
    f->money[f->n_money].deposits_net = deposits_net;
    f->money[f->n_money].owed = owed;
    f->n_money++;
}

void offpay__audit_facts_from(const int64_t        v[OFFPAY__AUDIT_QUERIES],
                              offpay__audit_facts *f)
{
    f->accounts = (uint64_t)v[0];
    f->transfers = (uint64_t)v[1];
    f->imbalanced = (uint64_t)v[2];
    f->negative = (uint64_t)v[3];
    f->escrow_mismatch = (uint64_t)v[4];
    f->settle_mismatch = (uint64_t)v[5];
    f->release_mismatch = (uint64_t)v[6];
    f->request_mismatch = (uint64_t)v[7];
    f->refund_mismatch = (uint64_t)v[8];
    f->newest_at = v[9] < 0 || v[9] > UINT32_MAX ? 0 : (uint32_t)v[9];
    f->mark_mismatch = (uint64_t)v[10];
    f->case_mismatch = (uint64_t)v[11];
    f->result_mismatch = (uint64_t)v[12];
    f->fund_mismatch = (uint64_t)v[13];
    f->trail_mismatch = (uint64_t)v[14];
}

/* The open cases, through cases_open (027_case_notes). */
const char offpay__cases_open_sql[] =
    "SELECT COUNT(*), COALESCE(MIN(opened_at), 0) FROM cases"
    " WHERE closed_at IS NULL";

/* A refusal (030_refusals), once per terminal and code; a merchant's in
 * a period, through refusals_terminal for each of its terminals
 * (terminals_merchant). */
const char offpay__refusal_add_sql[] =
    "INSERT INTO refusals (terminal, serial, counter, code_hash, charged,"
    " reason, accepted_at, uploaded_at)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    " ON CONFLICT (terminal, code_hash) DO NOTHING";
/* (a refused code the same terminal sent again dated before its
 * revocation, and so settled, is a presentment: counted there only; both
 * are on the credential's shard) */
const char offpay__refusals_sql[] =
    "SELECT f.terminal, f.serial, f.counter, f.charged, f.reason,"
    " f.accepted_at, f.uploaded_at FROM terminals t"
    " JOIN refusals f ON f.terminal = t.id"
    " WHERE t.merchant = $1 AND f.uploaded_at BETWEEN $2 AND $3"
    " AND NOT EXISTS (SELECT 1 FROM presentments p"
    "  WHERE p.serial = f.serial AND p.counter = f.counter"
    "  AND p.terminal = f.terminal AND p.code_hash = f.code_hash)"
    " ORDER BY f.uploaded_at, f.id";

/* What operators did (032_operator_actions), a period in time order
 * through operator_actions_at, one operator's through
 * operator_actions_who: under their name, and through offpay admin
 * (OFFPAY_ACTOR_ADMIN_SUFFIX). */
const char offpay__newest_action_sql[] =
    "SELECT COALESCE(MAX(at), 0) FROM operator_actions";
const char offpay__action_add_sql[] =
    "INSERT INTO operator_actions (at, who, action, subject, detail)"
    " VALUES ($1, $2, $3, $4, $5)";
/* (SQLite numbers $N by first appearance: they appear in order) */
#define ACTIONS_SELECT                                                         \
    "SELECT id, at, who, action, subject, detail FROM operator_actions"        \
    " WHERE at >= $1 AND (at > $1 OR id > $2) AND at <= $3"                    \
    " AND (CAST($4 AS TEXT) = '' OR action = CAST($4 AS TEXT))"                \
    " AND (CAST($5 AS BIGINT) = 0 OR subject = CAST($5 AS BIGINT))"
const char offpay__actions_sql[] = ACTIONS_SELECT " ORDER BY at, id LIMIT $6";
const char offpay__actions_who_sql[] =
    ACTIONS_SELECT " AND lower(who) IN (lower(CAST($6 AS TEXT)),"
                   " lower(CAST($6 AS TEXT) || ' (offpay admin)'))"
                   " ORDER BY at, id LIMIT $7";

/* Terminal $1's label, through its primary key (029_terminal_labels). */
const char offpay__terminal_label_set_sql[] =
    "INSERT INTO terminal_labels (terminal, label, set_at) VALUES ($1, $2, $3)"
    " ON CONFLICT (terminal) DO UPDATE SET label = excluded.label,"
    " set_at = excluded.set_at WHERE terminal_labels.label <> excluded.label";
const char offpay__terminal_label_clear_sql[] =
    "DELETE FROM terminal_labels WHERE terminal = $1";
/* ($1 the new terminal, $2 the time, $3 the old one, numbered in the
 * order SQLite reads them; a new terminal has none: "DO NOTHING" never
 * meets one) */
const char offpay__terminal_label_carry_sql[] =
    "INSERT INTO terminal_labels (terminal, label, set_at)"
    " SELECT $1, label, $2 FROM terminal_labels WHERE terminal = $3"
    " ON CONFLICT (terminal) DO NOTHING";

/* Terminal $1's last report (003_terminal_reports, its primary key). */
const char offpay__terminal_report_get_sql[] =
    "SELECT " OFFPAY__REPORT_COLS " FROM terminal_reports r"
    " WHERE terminal = $1";

/* The merchants above $1, at most $2, with their terminals counted
 * (terminals_merchant, 009_refunds) and their account's balance on this
 * store (OFFPAY__BALANCE_SQL). */
const char offpay__merchants_sql[] =
    "SELECT m.id, m.account, m.currency, m.name, m.created_at,"
    " (SELECT COUNT(*) FROM terminals t WHERE t.merchant = m.id),"
    " (SELECT COUNT(*) FROM terminals t WHERE t.merchant = m.id"
    "  AND t.revoked_at IS NULL),"
    " " OFFPAY__BALANCE_SQL(
        "m.account") ", m.closed_at"
                     " FROM merchants m WHERE m.id > $1 ORDER BY m.id LIMIT $2";

/* The terminals above $1, of merchant $3 only when $2 is 1, at most $4,
 * by id (the primary key; terminals_merchant, 009_refunds, for one
 * merchant's), with their merchant, last report (003_terminal_reports,
 * its primary key) and revocation's reason (021_terminal_revoke_reason). */
const char offpay__terminals_sql[] =
    "SELECT t.id, t.merchant, m.name, m.currency, t.pk, t.bytes,"
    " t.created_at, t.revoked_at, t.retired, t.rotated_to,"
    " t.revoke_reason, " OFFPAY__REPORT_COLS ", lb.label"
    " FROM terminals t JOIN merchants m ON m.id = t.merchant"
    " LEFT JOIN terminal_reports r ON r.terminal = t.id"
    " LEFT JOIN terminal_labels lb ON lb.terminal = t.id"
    " WHERE t.id > $1 AND ($2 = 0 OR t.merchant = $3)"
    " ORDER BY t.id LIMIT $4";

/* The credentials not released, by the two bytes of their kid (store.h).
 * "expires >= 0", always true, is a range on the partial index of the
 * unreleased (credentials_expires), which SQLite then walks rather than
 * every credential ever issued; ORDER BY is the grouping's own. */
const char offpay__cred_kids_sql[] =
    "SELECT substr(bytes, 3, 2), COUNT(*),"
    " SUM(CASE WHEN expires >= $1 THEN 1 ELSE 0 END), MAX(expires)"
    " FROM credentials WHERE released_at IS NULL AND expires >= 0"
    " GROUP BY substr(bytes, 3, 2) ORDER BY substr(bytes, 3, 2)";

/* Credential $1's signed bytes (store.h, cred_bytes). */
const char offpay__cred_bytes_sql[] =
    "SELECT bytes FROM credentials WHERE serial = $1";

/* The payers' accounts above $1, at most $2, with their balances
 * (OFFPAY__BALANCE_SQL), credentials counted
 * (credentials_wallet_account, 010_wallet_accounts) and the time their
 * wallet key was revoked (none while a new wallet holds the account), the
 * escrow its unreleased credentials still hold and the latest ledger
 * expiry among those holding some, then the latest release among its
 * credentials and the latest ledger expiry among those not released (from
 * which the ledger makes the end of their late windows); of
 * reference $2 (then at most $3) through accounts_wallet_ref. (SQLite numbers
 * $N parameters in the order they first appear.) */
#define WALLET_ACCOUNTS_SQL(where, limit)                                      \
    "SELECT a.id, a.currency, a.ref, a.created_at,"                            \
    " " OFFPAY__BALANCE_SQL(                                                   \
        "a.id") ","                                                            \
                " (SELECT COUNT(*) FROM credentials c WHERE c.wallet_account " \
                "= a.id),"                                                     \
                " (SELECT COUNT(*) FROM credentials c WHERE c.wallet_account " \
                "= a.id"                                                       \
                "  AND c.revoked_at IS NULL AND c.released_at IS NULL),"       \
                " (SELECT CASE WHEN COUNT(w.revoked_at) = COUNT(*)"            \
                "  THEN COALESCE(MAX(w.revoked_at), 0) ELSE 0 END FROM "       \
                "wallet_keys w"                                                \
                "  WHERE w.account = a.id),"                                   \
                " (SELECT COALESCE(SUM(c.remaining), 0) FROM credentials c"    \
                "  WHERE c.wallet_account = a.id AND c.released_at IS NULL),"  \
                " (SELECT COALESCE(MAX(c.expires), 0) FROM credentials c"      \
                "  WHERE c.wallet_account = a.id AND c.released_at IS NULL"    \
                "  AND c.remaining > 0),"                                      \
                " (SELECT COALESCE(MAX(c.released_at), 0) FROM credentials c"  \
                "  WHERE c.wallet_account = a.id),"                            \
                " (SELECT COALESCE(MAX(c.expires), 0) FROM credentials c"      \
                "  WHERE c.wallet_account = a.id AND c.released_at IS NULL)"   \
                " FROM accounts a WHERE a.kind = 2 AND a.id > $1" where        \
                " ORDER BY a.id LIMIT " limit
const char offpay__wallet_accounts_sql[] = WALLET_ACCOUNTS_SQL("", "$2");
const char offpay__wallet_accounts_ref_sql[] =
    WALLET_ACCOUNTS_SQL(" AND a.ref = $2", "$3");

/* The marking job (019_balance_marks, store.h's marks_advance), run under
 * the ledger's write lock. First the last transfer mark's upto and
 * latest_at (0 and 0: none), the lowest transfer id above it and the
 * highest (0 and 0: none; ids need not start at 1: a shard's, a restored
 * ledger's after skip-ids, leave gaps a batch of ids must not walk). */
const char offpay__marks_last_sql[] =
    "WITH k(upto, latest_at) AS (SELECT COALESCE((SELECT upto"
    "  FROM transfer_marks ORDER BY upto DESC LIMIT 1), 0),"
    " COALESCE((SELECT latest_at FROM transfer_marks"
    "  ORDER BY upto DESC LIMIT 1), 0))"
    " SELECT k.upto, k.latest_at,"
    " COALESCE((SELECT MIN(x.id) FROM transfers x WHERE x.id > k.upto), 0),"
    " COALESCE((SELECT MAX(id) FROM transfers), 0) FROM k";
/* Then the balance marks, up to $2, of the world, merchant and guarantee
 * accounts with a transfer above the last mark $1 (read by id, the
 * primary key): each account's mark plus its transfers above the mark up
 * to $2 (an account without a transfer since its mark keeps its mark,
 * which stays true). */
/* clang-format off */
/* Each account's mark at $2 from its mark before and its transfers
 * between, for the accounts with a transfer in ($1, $2]: FROM_WHERE
 * chooses them (a joined as the accounts, w the ids touched, q the
 * bounds), ON_CONFLICT says when a mark is replaced. */
#define MARKS_PUT_SQL(from_where, on_conflict)                                 \
    "WITH q(lo, hi) AS (SELECT CAST($1 AS BIGINT), CAST($2 AS BIGINT)),"       \
    " w(id) AS (SELECT x.credit FROM transfers x, q"                           \
    "  WHERE x.id > q.lo AND x.id <= q.hi"                                     \
    "  UNION SELECT x.debit FROM transfers x, q"                               \
    "  WHERE x.id > q.lo AND x.id <= q.hi)"                                    \
    " INSERT INTO balance_marks (account, upto, balance)"                      \
    " SELECT a.id, q.hi,"                                                      \
    " COALESCE((SELECT k.balance FROM balance_marks k"                         \
    "  WHERE k.account = a.id),"                                               \
    "  0) + (SELECT COALESCE(SUM(x.amount), 0) FROM transfers x"               \
    "  WHERE x.credit = a.id AND x.id > " OFFPAY__MARK_UPTO("a.id")            \
    "  AND x.id <= q.hi)"                                                      \
    " - (SELECT COALESCE(SUM(x.amount), 0) FROM transfers x"                   \
    "  WHERE x.debit = a.id AND x.id > " OFFPAY__MARK_UPTO("a.id")             \
    "  AND x.id <= q.hi)"                                                      \
    " " from_where                                                             \
    " ON CONFLICT (account) DO UPDATE SET upto = excluded.upto,"               \
    " balance = excluded.balance" on_conflict
/* (CROSS JOIN keeps SQLite's order, the accounts read by id for each one
 * touched: joined as w JOIN accounts, it read every account, w through an
 * automatic index; with 2·10^6 accounts 155 ms a run under the writer's
 * lock, 0.49 ms so) */
const char offpay__balance_marks_put_sql[] =
    MARKS_PUT_SQL("FROM w CROSS JOIN accounts a CROSS JOIN q"
                  " WHERE a.id = w.id AND a.kind IN (1, 4, 5)", "");
/* clang-format on */
/* Then the transfer mark $2: latest_at the latest time up to it, the last
 * mark's $3 or the latest of the transfers above the last mark $1; $4 the
 * time it was made. */
const char offpay__transfer_mark_put_sql[] =
    "WITH q(lo, hi, prev, made) AS (SELECT CAST($1 AS BIGINT),"
    " CAST($2 AS BIGINT), CAST($3 AS BIGINT), CAST($4 AS BIGINT)),"
    " w(m) AS (SELECT COALESCE(MAX(x.at), 0) FROM transfers x, q"
    "  WHERE x.id > q.lo AND x.id <= q.hi)"
    " INSERT INTO transfer_marks (upto, latest_at, made_at)"
    " SELECT q.hi, CASE WHEN w.m > q.prev THEN w.m ELSE q.prev END, q.made"
    " FROM q, w";

/* How far the marks go (offpay_ledger_marks_state): how many of each,
 * the last transfer mark's upto, latest_at and made_at (0: none), the
 * highest transfer id (0: none) and how many transfers are above the
 * last mark (by the primary key's range). */
const char offpay__marks_state_sql[] =
    "WITH k(upto, latest_at, made_at) AS (SELECT m.upto, m.latest_at,"
    " m.made_at FROM transfer_marks m ORDER BY m.upto DESC LIMIT 1),"
    " u(upto) AS (SELECT COALESCE((SELECT upto FROM k), 0))"
    " SELECT (SELECT COUNT(*) FROM transfer_marks),"
    " (SELECT COUNT(*) FROM balance_marks), u.upto,"
    " COALESCE((SELECT latest_at FROM k), 0),"
    " COALESCE((SELECT made_at FROM k), 0),"
    " COALESCE((SELECT MAX(id) FROM transfers), 0),"
    " (SELECT COUNT(*) FROM transfers x WHERE x.id > u.upto) FROM u";
/* offpay_ledger_marks_drop: every mark, balance marks first. */
const char offpay__balance_marks_drop_sql[] = "DELETE FROM balance_marks";
const char offpay__transfer_marks_drop_sql[] = "DELETE FROM transfer_marks";

/* The wallet accounts' balance marks (since 0.18.0: a payer renewed
 * daily for years has tens of thousands of transfers, which its every
 * issue, allowance and status read), made as the balance marks above,
 * for the wallet accounts with a transfer in ($1, $2], $2 a transfer mark
 * made before: every transfer up to it is committed, so no lock is
 * needed, and the job runs this in a transaction of its own after the one
 * that holds the writers' lock (which would hold it several times as long
 * with the wallets where most transfers touch one). Forward only, in the
 * accounts' order: another process's job may have marked a wallet further
 * meanwhile (each mark is exact at its own id). Escrows have a few transfers
 * each and get none. The accounts are read by id for each one touched (CROSS
 * JOIN keeps SQLite's order: joined as below, it built an index of every
 * account's kind first). */
/* clang-format off */
const char offpay__wallet_marks_put_sql[] =
    MARKS_PUT_SQL("FROM w CROSS JOIN accounts a CROSS JOIN q"
                  " WHERE a.id = w.id AND a.kind = 2 ORDER BY a.id",
                  " WHERE balance_marks.upto < excluded.upto");
/* clang-format on */
