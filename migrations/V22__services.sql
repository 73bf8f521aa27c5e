-- Services (issue 16): the end date of a service product that names none, an ISO 8601 date
-- (`2027-06-30`) or duration (`P1Y`, integration-core's default `defaultServicesEndDate`).
ALTER TABLE general_settings ADD COLUMN services_end_date TEXT NOT NULL DEFAULT 'P1Y';
