-- 026_merchant_closed.sql — a merchant's closing (docs/operations.md
-- "Closing a payer's account, a merchant leaving"; offpay admin
-- close-merchant, POST /v1/admin/merchants/M/close). A merchant leaving
-- had its terminals revoked one by one, and nothing in the ledger refused
-- a new terminal for it. closed_at is when it was closed (NULL: open):
-- from then on the ledger registers no terminal for it (EMERCHANT_CLOSED),
-- and the closing revoked every terminal it had. What they accepted
-- before is still paid when uploaded, as for any revoked terminal; its
-- account stays, for those payments and for refunds.

ALTER TABLE merchants ADD COLUMN closed_at @INT@;
