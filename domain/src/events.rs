//! Events of a tenant (`client.created`, `invoice.paid`, ...), recorded in the transaction of the change, for webhooks.
