//! A ticket's priority: here, below every context, because the company's
//! portal settings (which priorities contacts may choose) name it as well
//! as the service desk.

crate::kernel::text::text_enum!(Priority {
    Low = "low",
    Medium = "medium",
    High = "high",
    Critical = "critical",
});
