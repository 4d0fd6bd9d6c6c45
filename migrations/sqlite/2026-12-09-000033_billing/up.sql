-- Issue 28, merchant billing: invoices (immutable once issued, numbered without gaps per
-- series and year), payments received and their reversals, what each payment or credit note
-- paid of which invoice, reminders sent, bank statement imports, payment terms, the
-- platform's payment instructions and tax rate, and pay-when-paid per payout schedule.

CREATE TABLE billing_settings (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    payee TEXT NOT NULL,
    payment_instructions TEXT NOT NULL,
    tax_rate_bps INTEGER NOT NULL CHECK (tax_rate_bps BETWEEN 0 AND 10000),
    tax_label TEXT NOT NULL,
    updated_by BIGINT REFERENCES users(id),
    updated_at TIMESTAMP NOT NULL
);

CREATE TABLE merchant_billing (
    merchant_id BIGINT PRIMARY KEY REFERENCES merchants(id),
    terms_days INTEGER NOT NULL CHECK (terms_days BETWEEN 0 AND 120),
    updated_by BIGINT REFERENCES users(id),
    updated_at TIMESTAMP NOT NULL
);

-- The last number given per series and year: it only ever steps by one.
CREATE TABLE invoice_series (
    prefix TEXT NOT NULL,
    year INTEGER NOT NULL,
    last_seq BIGINT NOT NULL CHECK (last_seq >= 1),
    PRIMARY KEY (prefix, year)
);
CREATE TRIGGER invoice_series_step BEFORE UPDATE ON invoice_series
WHEN NEW.prefix IS NOT OLD.prefix OR NEW.year IS NOT OLD.year OR NEW.last_seq IS NOT OLD.last_seq + 1
BEGIN SELECT RAISE(ABORT, 'invoice numbers step by one'); END;
CREATE TRIGGER invoice_series_no_delete BEFORE DELETE ON invoice_series
BEGIN SELECT RAISE(ABORT, 'invoice numbers step by one'); END;
CREATE TRIGGER invoice_series_born BEFORE INSERT ON invoice_series
WHEN NEW.last_seq IS NOT 1
BEGIN SELECT RAISE(ABORT, 'invoice numbers step by one'); END;

CREATE TABLE invoices (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    number TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL CHECK (prefix IN ('INV', 'CN')),
    year INTEGER NOT NULL,
    seq BIGINT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('invoice', 'credit_note')),
    source TEXT NOT NULL CHECK (source IN ('period', 'correction')),
    merchant_id BIGINT NOT NULL REFERENCES merchants(id),
    currency TEXT NOT NULL,
    period_label TEXT NOT NULL,
    period_start TIMESTAMP NOT NULL,
    period_end TIMESTAMP NOT NULL,
    time_zone TEXT NOT NULL,
    issued_at TIMESTAMP NOT NULL,
    due_on TEXT NOT NULL,
    terms_days INTEGER NOT NULL,
    subtotal_minor BIGINT NOT NULL,
    tax_rate_bps INTEGER NOT NULL,
    tax_label TEXT NOT NULL,
    tax_minor BIGINT NOT NULL,
    total_minor BIGINT NOT NULL,
    corrects_id BIGINT REFERENCES invoices(id),
    reason TEXT NOT NULL,
    bill_to TEXT NOT NULL,
    payee TEXT NOT NULL,
    payment_instructions TEXT NOT NULL,
    issued_by BIGINT REFERENCES users(id),
    UNIQUE (prefix, year, seq)
);
CREATE UNIQUE INDEX invoices_one_per_period ON invoices (merchant_id, currency, period_start)
    WHERE source = 'period';
CREATE INDEX invoices_merchant ON invoices (merchant_id, currency, issued_at);

CREATE TABLE invoice_lines (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    invoice_id BIGINT NOT NULL REFERENCES invoices(id),
    line_no INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('commission', 'refund', 'rejected', 'fee', 'fee_returned', 'tax', 'correction')),
    campaign_id BIGINT,
    influencer_id BIGINT,
    description TEXT NOT NULL,
    count BIGINT NOT NULL,
    amount_minor BIGINT NOT NULL,
    UNIQUE (invoice_id, line_no)
);

CREATE TABLE merchant_payments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    merchant_id BIGINT NOT NULL REFERENCES merchants(id),
    currency TEXT NOT NULL,
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    value_date TEXT NOT NULL,
    bank_reference TEXT NOT NULL,
    payer TEXT NOT NULL,
    invoice_id BIGINT REFERENCES invoices(id),
    statement_row_id BIGINT,
    recorded_by BIGINT REFERENCES users(id),
    recorded_at TIMESTAMP NOT NULL,
    UNIQUE (merchant_id, bank_reference)
);

CREATE TABLE payment_reversals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    payment_id BIGINT NOT NULL UNIQUE REFERENCES merchant_payments(id),
    reason TEXT NOT NULL,
    reversed_by BIGINT REFERENCES users(id),
    reversed_at TIMESTAMP NOT NULL
);

-- What a payment or a credit note paid of an invoice. A reversed payment's applications no
-- longer count.
CREATE TABLE invoice_allocations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    invoice_id BIGINT NOT NULL REFERENCES invoices(id),
    payment_id BIGINT REFERENCES merchant_payments(id),
    credit_note_id BIGINT REFERENCES invoices(id),
    amount_minor BIGINT NOT NULL CHECK (amount_minor > 0),
    created_at TIMESTAMP NOT NULL,
    CHECK ((payment_id IS NULL) <> (credit_note_id IS NULL))
);
CREATE INDEX invoice_allocations_invoice ON invoice_allocations (invoice_id);
CREATE INDEX invoice_allocations_payment ON invoice_allocations (payment_id);
CREATE INDEX invoice_allocations_credit ON invoice_allocations (credit_note_id);

CREATE TABLE invoice_reminders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    invoice_id BIGINT NOT NULL REFERENCES invoices(id),
    kind TEXT NOT NULL CHECK (kind IN ('due', 'overdue')),
    sent_at TIMESTAMP NOT NULL,
    UNIQUE (invoice_id, kind)
);

CREATE TABLE statement_imports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    file_sha256 TEXT NOT NULL UNIQUE,
    filename TEXT NOT NULL,
    uploaded_by BIGINT REFERENCES users(id),
    uploaded_at TIMESTAMP NOT NULL,
    applied_by BIGINT REFERENCES users(id),
    applied_at TIMESTAMP
);

CREATE TABLE statement_rows (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    import_id BIGINT NOT NULL REFERENCES statement_imports(id),
    row_no INTEGER NOT NULL,
    value_date TEXT NOT NULL,
    amount_text TEXT NOT NULL,
    amount_minor BIGINT,
    currency TEXT NOT NULL,
    reference TEXT NOT NULL,
    payer TEXT NOT NULL,
    problem TEXT,
    matched_invoice_id BIGINT REFERENCES invoices(id),
    outcome TEXT CHECK (outcome IN ('recorded', 'skipped', 'already_recorded')),
    payment_id BIGINT REFERENCES merchant_payments(id),
    UNIQUE (import_id, row_no)
);

-- Immutable once written, as the ledger is.
CREATE TRIGGER invoices_no_update BEFORE UPDATE ON invoices
BEGIN SELECT RAISE(ABORT, 'issued invoices never change: issue a credit note'); END;
CREATE TRIGGER invoices_no_delete BEFORE DELETE ON invoices
BEGIN SELECT RAISE(ABORT, 'issued invoices never change: issue a credit note'); END;
CREATE TRIGGER invoices_no_replace BEFORE INSERT ON invoices
WHEN NEW.id IS NOT NULL AND EXISTS (SELECT 1 FROM invoices WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'issued invoices never change: issue a credit note'); END;
CREATE TRIGGER invoice_lines_no_update BEFORE UPDATE ON invoice_lines
BEGIN SELECT RAISE(ABORT, 'issued invoices never change: issue a credit note'); END;
CREATE TRIGGER invoice_lines_no_delete BEFORE DELETE ON invoice_lines
BEGIN SELECT RAISE(ABORT, 'issued invoices never change: issue a credit note'); END;
CREATE TRIGGER invoice_lines_no_replace BEFORE INSERT ON invoice_lines
WHEN NEW.id IS NOT NULL AND EXISTS (SELECT 1 FROM invoice_lines WHERE id = NEW.id)
BEGIN SELECT RAISE(ABORT, 'issued invoices never change: issue a credit note'); END;
CREATE TRIGGER merchant_payments_no_update BEFORE UPDATE ON merchant_payments
BEGIN SELECT RAISE(ABORT, 'a recorded payment never changes: reverse it'); END;
CREATE TRIGGER merchant_payments_no_delete BEFORE DELETE ON merchant_payments
BEGIN SELECT RAISE(ABORT, 'a recorded payment never changes: reverse it'); END;
CREATE TRIGGER payment_reversals_no_update BEFORE UPDATE ON payment_reversals
BEGIN SELECT RAISE(ABORT, 'a payment reversal never changes'); END;
CREATE TRIGGER payment_reversals_no_delete BEFORE DELETE ON payment_reversals
BEGIN SELECT RAISE(ABORT, 'a payment reversal never changes'); END;
CREATE TRIGGER invoice_allocations_no_update BEFORE UPDATE ON invoice_allocations
BEGIN SELECT RAISE(ABORT, 'what a payment paid never changes'); END;
CREATE TRIGGER invoice_allocations_no_delete BEFORE DELETE ON invoice_allocations
BEGIN SELECT RAISE(ABORT, 'what a payment paid never changes'); END;

ALTER TABLE payout_schedules ADD COLUMN pay_when_paid BOOLEAN NOT NULL DEFAULT FALSE;
