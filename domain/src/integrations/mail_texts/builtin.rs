//! The built-in texts: a subject and a body per kind of message and
//! language. The placeholders are those [`super::slots`] lists; the module's
//! tests check every text against them.

use super::Language;
use crate::platform::mail::MailTemplate;

/// The built-in `(subject, body)` of `t` in `lang`.
pub fn text(t: MailTemplate, lang: Language) -> (&'static str, &'static str) {
    match lang {
        Language::En => en(t),
        Language::De => de(t),
        Language::Fr => fr(t),
    }
}

fn en(t: MailTemplate) -> (&'static str, &'static str) {
    use MailTemplate as T;
    match t {
        T::Invoice => (
            "Invoice {{invoice.number}} from {{company.name}}",
            "Hello,\n\nplease find attached invoice {{invoice.number}} for {{invoice.total}}, due on {{invoice.due_date}}.\n\nKind regards,\n{{company.name}}{{company.payment_instructions}}",
        ),
        T::OverdueReminder => (
            "Reminder: invoice {{invoice.number}} is overdue",
            "Hello,\n\nour records show that invoice {{invoice.number}} was due on {{invoice.due_date}}, {{invoice.due_ago}}, and {{invoice.balance}} of {{invoice.total}} is still open. {{reminder.sent_note}} If you have paid it meanwhile, please disregard this reminder.\n\nKind regards,\n{{company.name}}{{company.payment_instructions}}",
        ),
        T::Quote => (
            "Quote {{quote.number}} from {{company.name}}",
            "Hello,\n\nplease find attached our quote {{quote.number}} for {{quote.total}}, valid until {{quote.valid_until}}.\n\nKind regards,\n{{company.name}}",
        ),
        T::Statement => (
            "Statement of account from {{company.name}}, {{statement.from}} to {{statement.to}}",
            "Hello,\n\nplease find attached your statement of account in {{statement.currency}} for {{statement.from}} to {{statement.to}}.\n\nKind regards,\n{{company.name}}{{company.payment_instructions}}",
        ),
        T::PaymentReceipt => (
            "Receipt for your payment to {{company.name}}",
            "Hello,\n\nthank you: we received your payment of {{payment.amount}} on {{payment.date}} for invoice {{invoice.number}}.\nThe balance of the invoice is now {{invoice.balance}}.\n\nKind regards,\n{{company.name}}",
        ),
        T::TicketAcknowledgement => (
            "[{{ticket.number}}] {{ticket.subject}}",
            "Hello,\n\nwe received your request and opened ticket {{ticket.number}}. Reply to this message to add to it; keep [{{ticket.number}}] in the subject.\n\n{{company.name}} support",
        ),
        T::TicketReply => (
            "Re: [{{ticket.number}}] {{ticket.subject}}",
            "{{reply.body}}\n\n-- \n{{company.name}} support",
        ),
        T::TicketAssigned => (
            "Ticket [{{ticket.number}}] assigned to you: {{ticket.subject}}",
            "Ticket {{ticket.number}} ({{ticket.subject}}) was assigned to you by {{assigned_by}}.",
        ),
        T::TicketSla => (
            "SLA {{sla.state}}: [{{ticket.number}}] {{ticket.subject}}",
            "The {{sla.target}} target of ticket {{ticket.number}} ({{ticket.subject}}) is {{sla.state}}: due {{sla.due_at}}.",
        ),
        T::TicketStatus => (
            "Ticket [{{ticket.number}}] is now {{ticket.status}}: {{ticket.subject}}",
            "Ticket {{ticket.number}} ({{ticket.subject}}) is now {{ticket.status}}.\n\nYou receive this because you watch the ticket.\n\n-- \n{{company.name}} support",
        ),
        T::WarrantyExpiring => (
            "Warranties expiring soon: {{assets.count}} of {{client.name}}",
            "The warranties of these assets of {{client.name}} expire soon:\n\n{{assets.list}}\n\n-- \n{{company.name}}",
        ),
        T::PaymentFailed => (
            "Automatic payment of invoice {{invoice.number}} failed",
            "Hello,\n\nthe automatic payment of {{invoice.balance}} for invoice {{invoice.number}} could not be taken: {{failure.reason}}.\n{{failure.next_step}}\n\nKind regards,\n{{company.name}}{{company.payment_instructions}}",
        ),
        T::WebhookDisabled => (
            "Webhook endpoint disabled: {{webhook.url}}",
            "The webhook endpoint {{webhook.url}} was disabled: {{webhook.reason}}.\n\nNo events are sent to it until an administrator enables it again (POST /api/v1/webhooks/endpoints/{{webhook.endpoint_id}}/enable); the deliveries that failed can then be redelivered.\n\n-- \n{{company.name}}",
        ),
        T::ManagementReport => (
            "Management report {{report.period}}",
            "Hello,\n\nattached is the management report of {{company.name}} for {{report.period}}, with charts.\n{{report.figures}}\n\nThe figures by client, product and day are in the reports (GET /api/v1/reports), also as CSV.\n\n-- \n{{company.name}}",
        ),
        T::PortalInvitation => (
            "Your invitation to the {{company.name}} client portal",
            "Hello,\n\n{{company.name}} invites you to its client portal, where you can follow your tickets. Open this link to accept the invitation (it works once, until {{portal.expires_at}}):\n\n{{portal.link}}\n\nKind regards,\n{{company.name}}",
        ),
        T::PortalSignIn => (
            "Your sign-in link for the {{company.name}} client portal",
            "Hello,\n\nopen this link in the browser where you asked for it to sign in to the {{company.name}} client portal (it works once, until {{portal.expires_at}}):\n\n{{portal.link}}\n\nIf you did not ask for it, ignore this message.\n\nKind regards,\n{{company.name}}",
        ),
        T::ContractExpiring => (
            "Contract {{contract.name}} of {{client.name}} ends {{contract.ends_in}}",
            "The contract {{contract.name}} of {{client.name}} ends on {{contract.end_date}}, {{contract.ends_in}}. Renew it, or let it end: its SLA targets, included hours and rate stop applying after that day.\n\n-- \n{{company.name}}",
        ),
    }
}

fn de(t: MailTemplate) -> (&'static str, &'static str) {
    use MailTemplate as T;
    match t {
        T::Invoice => (
            "Rechnung {{invoice.number}} von {{company.name}}",
            "Guten Tag,\n\nanbei erhalten Sie die Rechnung {{invoice.number}} über {{invoice.total}}, fällig am {{invoice.due_date}}.\n\nMit freundlichen Grüßen\n{{company.name}}{{company.payment_instructions}}",
        ),
        T::OverdueReminder => (
            "Zahlungserinnerung: Rechnung {{invoice.number}} ist überfällig",
            "Guten Tag,\n\nlaut unseren Unterlagen war die Rechnung {{invoice.number}} am {{invoice.due_date}} fällig ({{invoice.due_ago}}), und {{invoice.balance}} von {{invoice.total}} sind noch offen. {{reminder.sent_note}} Falls Sie inzwischen bezahlt haben, betrachten Sie diese Erinnerung bitte als gegenstandslos.\n\nMit freundlichen Grüßen\n{{company.name}}{{company.payment_instructions}}",
        ),
        T::Quote => (
            "Angebot {{quote.number}} von {{company.name}}",
            "Guten Tag,\n\nanbei erhalten Sie unser Angebot {{quote.number}} über {{quote.total}}, gültig bis {{quote.valid_until}}.\n\nMit freundlichen Grüßen\n{{company.name}}",
        ),
        T::Statement => (
            "Kontoauszug von {{company.name}}, {{statement.from}} bis {{statement.to}}",
            "Guten Tag,\n\nanbei erhalten Sie Ihren Kontoauszug in {{statement.currency}} für den Zeitraum {{statement.from}} bis {{statement.to}}.\n\nMit freundlichen Grüßen\n{{company.name}}{{company.payment_instructions}}",
        ),
        T::PaymentReceipt => (
            "Zahlungsbestätigung von {{company.name}}",
            "Guten Tag,\n\nvielen Dank: Wir haben Ihre Zahlung von {{payment.amount}} am {{payment.date}} für die Rechnung {{invoice.number}} erhalten.\nDer offene Betrag der Rechnung ist jetzt {{invoice.balance}}.\n\nMit freundlichen Grüßen\n{{company.name}}",
        ),
        T::TicketAcknowledgement => (
            "[{{ticket.number}}] {{ticket.subject}}",
            "Guten Tag,\n\nwir haben Ihre Anfrage erhalten und das Ticket {{ticket.number}} eröffnet. Antworten Sie auf diese Nachricht, um etwas hinzuzufügen; lassen Sie [{{ticket.number}}] im Betreff stehen.\n\nIhr Support-Team von {{company.name}}",
        ),
        T::TicketReply => (
            "AW: [{{ticket.number}}] {{ticket.subject}}",
            "{{reply.body}}\n\n-- \nSupport {{company.name}}",
        ),
        T::TicketAssigned => (
            "Ticket [{{ticket.number}}] wurde Ihnen zugewiesen: {{ticket.subject}}",
            "Das Ticket {{ticket.number}} ({{ticket.subject}}) wurde Ihnen von {{assigned_by}} zugewiesen.",
        ),
        T::TicketSla => (
            "SLA {{sla.state}}: [{{ticket.number}}] {{ticket.subject}}",
            "Das Ziel „{{sla.target}}“ des Tickets {{ticket.number}} ({{ticket.subject}}) ist {{sla.state}}: fällig {{sla.due_at}}.",
        ),
        T::TicketStatus => (
            "Ticket [{{ticket.number}}] ist jetzt {{ticket.status}}: {{ticket.subject}}",
            "Das Ticket {{ticket.number}} ({{ticket.subject}}) ist jetzt {{ticket.status}}.\n\nSie erhalten diese Nachricht, weil Sie das Ticket beobachten.\n\n-- \nSupport {{company.name}}",
        ),
        T::WarrantyExpiring => (
            "Garantien laufen bald ab: {{assets.count}} von {{client.name}}",
            "Die Garantien dieser Geräte von {{client.name}} laufen bald ab:\n\n{{assets.list}}\n\n-- \n{{company.name}}",
        ),
        T::PaymentFailed => (
            "Automatische Zahlung der Rechnung {{invoice.number}} fehlgeschlagen",
            "Guten Tag,\n\ndie automatische Zahlung von {{invoice.balance}} für die Rechnung {{invoice.number}} konnte nicht eingezogen werden: {{failure.reason}}.\n{{failure.next_step}}\n\nMit freundlichen Grüßen\n{{company.name}}{{company.payment_instructions}}",
        ),
        T::WebhookDisabled => (
            "Webhook-Endpunkt deaktiviert: {{webhook.url}}",
            "Der Webhook-Endpunkt {{webhook.url}} wurde deaktiviert: {{webhook.reason}}.\n\nEr erhält keine Ereignisse mehr, bis ein Administrator ihn wieder aktiviert (POST /api/v1/webhooks/endpoints/{{webhook.endpoint_id}}/enable); danach können die fehlgeschlagenen Zustellungen erneut gesendet werden.\n\n-- \n{{company.name}}",
        ),
        T::ManagementReport => (
            "Management-Bericht {{report.period}}",
            "Guten Tag,\n\nanbei der Management-Bericht von {{company.name}} für {{report.period}}, mit Diagrammen.\n{{report.figures}}\n\nDie Zahlen nach Kunde, Produkt und Tag stehen in den Berichten (GET /api/v1/reports), auch als CSV.\n\n-- \n{{company.name}}",
        ),
        T::PortalInvitation => (
            "Ihre Einladung in das Kundenportal von {{company.name}}",
            "Guten Tag,\n\n{{company.name}} lädt Sie in sein Kundenportal ein, in dem Sie Ihre Tickets verfolgen können. Öffnen Sie diesen Link, um die Einladung anzunehmen (er funktioniert einmal, bis {{portal.expires_at}}):\n\n{{portal.link}}\n\nMit freundlichen Grüßen\n{{company.name}}",
        ),
        T::PortalSignIn => (
            "Ihr Anmeldelink für das Kundenportal von {{company.name}}",
            "Guten Tag,\n\nöffnen Sie diesen Link in dem Browser, in dem Sie ihn angefordert haben, um sich im Kundenportal von {{company.name}} anzumelden (er funktioniert einmal, bis {{portal.expires_at}}):\n\n{{portal.link}}\n\nWenn Sie ihn nicht angefordert haben, ignorieren Sie diese Nachricht.\n\nMit freundlichen Grüßen\n{{company.name}}",
        ),
        T::ContractExpiring => (
            "Vertrag {{contract.name}} von {{client.name}} endet {{contract.ends_in}}",
            "Der Vertrag {{contract.name}} von {{client.name}} endet am {{contract.end_date}}, {{contract.ends_in}}. Verlängern Sie ihn oder lassen Sie ihn auslaufen: Seine SLA-Ziele, Inklusivstunden und Stundensätze gelten nach diesem Tag nicht mehr.\n\n-- \n{{company.name}}",
        ),
    }
}

fn fr(t: MailTemplate) -> (&'static str, &'static str) {
    use MailTemplate as T;
    match t {
        T::Invoice => (
            "Facture {{invoice.number}} de {{company.name}}",
            "Bonjour,\n\nveuillez trouver ci-joint la facture {{invoice.number}} d'un montant de {{invoice.total}}, à régler avant le {{invoice.due_date}}.\n\nCordialement,\n{{company.name}}{{company.payment_instructions}}",
        ),
        T::OverdueReminder => (
            "Relance : la facture {{invoice.number}} est en retard",
            "Bonjour,\n\nselon nos registres, la facture {{invoice.number}} était due le {{invoice.due_date}} ({{invoice.due_ago}}) et {{invoice.balance}} sur {{invoice.total}} restent à régler. {{reminder.sent_note}} Si vous l'avez réglée entre-temps, merci de ne pas tenir compte de cette relance.\n\nCordialement,\n{{company.name}}{{company.payment_instructions}}",
        ),
        T::Quote => (
            "Devis {{quote.number}} de {{company.name}}",
            "Bonjour,\n\nveuillez trouver ci-joint notre devis {{quote.number}} d'un montant de {{quote.total}}, valable jusqu'au {{quote.valid_until}}.\n\nCordialement,\n{{company.name}}",
        ),
        T::Statement => (
            "Relevé de compte de {{company.name}}, du {{statement.from}} au {{statement.to}}",
            "Bonjour,\n\nveuillez trouver ci-joint votre relevé de compte en {{statement.currency}} pour la période du {{statement.from}} au {{statement.to}}.\n\nCordialement,\n{{company.name}}{{company.payment_instructions}}",
        ),
        T::PaymentReceipt => (
            "Reçu de votre paiement à {{company.name}}",
            "Bonjour,\n\nmerci : nous avons reçu votre paiement de {{payment.amount}} le {{payment.date}} pour la facture {{invoice.number}}.\nLe solde de la facture est maintenant de {{invoice.balance}}.\n\nCordialement,\n{{company.name}}",
        ),
        T::TicketAcknowledgement => (
            "[{{ticket.number}}] {{ticket.subject}}",
            "Bonjour,\n\nnous avons bien reçu votre demande et ouvert le ticket {{ticket.number}}. Répondez à ce message pour la compléter ; gardez [{{ticket.number}}] dans l'objet.\n\nLe support de {{company.name}}",
        ),
        T::TicketReply => (
            "RE: [{{ticket.number}}] {{ticket.subject}}",
            "{{reply.body}}\n\n-- \nLe support de {{company.name}}",
        ),
        T::TicketAssigned => (
            "Le ticket [{{ticket.number}}] vous est attribué : {{ticket.subject}}",
            "Le ticket {{ticket.number}} ({{ticket.subject}}) vous a été attribué par {{assigned_by}}.",
        ),
        T::TicketSla => (
            "SLA {{sla.state}} : [{{ticket.number}}] {{ticket.subject}}",
            "L'objectif « {{sla.target}} » du ticket {{ticket.number}} ({{ticket.subject}}) est {{sla.state}} : échéance {{sla.due_at}}.",
        ),
        T::TicketStatus => (
            "Le ticket [{{ticket.number}}] est maintenant {{ticket.status}} : {{ticket.subject}}",
            "Le ticket {{ticket.number}} ({{ticket.subject}}) est maintenant {{ticket.status}}.\n\nVous recevez ce message parce que vous suivez ce ticket.\n\n-- \nLe support de {{company.name}}",
        ),
        T::WarrantyExpiring => (
            "Garanties bientôt expirées : {{assets.count}} de {{client.name}}",
            "Les garanties de ces équipements de {{client.name}} expirent bientôt :\n\n{{assets.list}}\n\n-- \n{{company.name}}",
        ),
        T::PaymentFailed => (
            "Échec du prélèvement automatique de la facture {{invoice.number}}",
            "Bonjour,\n\nle prélèvement automatique de {{invoice.balance}} pour la facture {{invoice.number}} n'a pas pu être effectué : {{failure.reason}}.\n{{failure.next_step}}\n\nCordialement,\n{{company.name}}{{company.payment_instructions}}",
        ),
        T::WebhookDisabled => (
            "Point de terminaison webhook désactivé : {{webhook.url}}",
            "Le point de terminaison webhook {{webhook.url}} a été désactivé : {{webhook.reason}}.\n\nAucun événement ne lui est envoyé jusqu'à ce qu'un administrateur le réactive (POST /api/v1/webhooks/endpoints/{{webhook.endpoint_id}}/enable) ; les livraisons échouées pourront alors être renvoyées.\n\n-- \n{{company.name}}",
        ),
        T::ManagementReport => (
            "Rapport de gestion {{report.period}}",
            "Bonjour,\n\nci-joint le rapport de gestion de {{company.name}} pour {{report.period}}, avec graphiques.\n{{report.figures}}\n\nLes chiffres par client, produit et jour se trouvent dans les rapports (GET /api/v1/reports), aussi en CSV.\n\n-- \n{{company.name}}",
        ),
        T::PortalInvitation => (
            "Votre invitation au portail client de {{company.name}}",
            "Bonjour,\n\n{{company.name}} vous invite sur son portail client, où vous pouvez suivre vos tickets. Ouvrez ce lien pour accepter l'invitation (il ne fonctionne qu'une fois, jusqu'au {{portal.expires_at}}) :\n\n{{portal.link}}\n\nCordialement,\n{{company.name}}",
        ),
        T::PortalSignIn => (
            "Votre lien de connexion au portail client de {{company.name}}",
            "Bonjour,\n\nouvrez ce lien dans le navigateur où vous l'avez demandé pour vous connecter au portail client de {{company.name}} (il ne fonctionne qu'une fois, jusqu'au {{portal.expires_at}}) :\n\n{{portal.link}}\n\nSi vous ne l'avez pas demandé, ignorez ce message.\n\nCordialement,\n{{company.name}}",
        ),
        T::ContractExpiring => (
            "Le contrat {{contract.name}} de {{client.name}} se termine {{contract.ends_in}}",
            "Le contrat {{contract.name}} de {{client.name}} se termine le {{contract.end_date}}, {{contract.ends_in}}. Renouvelez-le ou laissez-le expirer : ses objectifs SLA, heures incluses et tarifs ne s'appliquent plus après ce jour.\n\n-- \n{{company.name}}",
        ),
    }
}
