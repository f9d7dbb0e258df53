-- 0008_system_templates.sql: seeds the six built-in system email templates (welcome, cart, promo,
-- newsletter and two transactional ones) with fixed ids, user_id NULL and is_system true.
-- Every tenant can read them through the system_templates_read policy, but they are read-only for
-- tenants: copy one to edit it. ON CONFLICT keeps a re-run from duplicating or overwriting them.

-- The frame every system template shares (head, brand header, footer with the
-- CAN-SPAM lines); each template below brings its title, preheader and body.
CREATE FUNCTION pg_temp.system_template_html(title text, preheader text, body text) RETURNS text
    LANGUAGE sql IMMUTABLE AS $fn$
  SELECT replace(replace($frame$<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="X-UA-Compatible" content="IE=edge">
<title>%%TITLE%%</title>
<style>
body { margin:0; padding:0; width:100%; }
@media (max-width:620px) {
  .container { width:100% !important; }
  .px { padding-left:20px !important; padding-right:20px !important; }
  .h1 { font-size:24px !important; line-height:30px !important; }
}
</style>
</head>
<body style="margin:0;padding:0;background-color:#fff7f5;">
<span style="display:none;max-height:0;overflow:hidden;opacity:0;color:#fff7f5;font-size:1px;line-height:1px;mso-hide:all;">%%PREHEADER%%</span>
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="background-color:#fff7f5;">
<tr><td align="center" style="padding:24px 10px;">
<table role="presentation" class="container" width="600" cellpadding="0" cellspacing="0" border="0" style="width:600px;max-width:600px;background-color:#ffffff;border-radius:8px;">
<tr><td class="px" bgcolor="#f43f5e" style="background-color:#f43f5e;padding:22px 32px;border-radius:8px 8px 0 0;font-family:Helvetica,Arial,sans-serif;font-size:20px;font-weight:bold;color:#ffffff;">
<a href="{{custom.shop_url|#}}" style="color:#ffffff;text-decoration:none;">{{custom.shop_name|Our Store}}</a>
</td></tr>
<tr><td class="px" style="padding:32px 32px 28px;">
$frame$, '%%TITLE%%', title), '%%PREHEADER%%', preheader)
         || body || $footer$<tr><td class="px" style="padding:20px 32px 28px;border-top:3px solid #fb923c;font-family:Helvetica,Arial,sans-serif;font-size:12px;line-height:18px;color:#6b7280;text-align:center;">
You are receiving this because you signed up at our store.<br>
{{postal_address}}<br>
<a href="{{unsubscribe_url}}" style="color:#fb923c;text-decoration:underline;">Unsubscribe</a>
</td></tr>
</table>
</td></tr>
</table>
</body>
</html>$footer$
$fn$;

INSERT INTO email_templates (id, user_id, name, subject, html_content, text_content, thumbnail_url, is_system, category)
VALUES (
    '00000000-0000-4000-8000-000000000001', NULL, 'Welcome',
    'Welcome aboard, {{first_name|friend}}!',
    pg_temp.system_template_html($t$Welcome$t$, $t$Thanks for joining us. Here is what to expect from our emails.$t$, $html$<span style="display:inline-block;margin:0 0 12px;padding:4px 10px;background-color:#fb923c;border-radius:12px;font-family:Helvetica,Arial,sans-serif;font-size:12px;font-weight:bold;letter-spacing:1px;color:#ffffff;">NEW MEMBER</span>
<h1 class="h1" style="margin:0 0 16px;font-family:Helvetica,Arial,sans-serif;font-size:28px;line-height:34px;font-weight:bold;color:#111827;">Welcome aboard!</h1>
<p style="margin:0 0 16px;font-family:Helvetica,Arial,sans-serif;font-size:16px;line-height:24px;color:#374151;">Hi {{first_name|there}},</p>
<p style="margin:0 0 16px;font-family:Helvetica,Arial,sans-serif;font-size:16px;line-height:24px;color:#374151;">Thanks for joining us. We are glad you are here. From now on you will be the first to hear about new arrivals, members-only offers and tips to get the most out of your purchases.</p>
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="margin:0 0 20px;">
<tr><td style="padding:6px 0;font-family:Helvetica,Arial,sans-serif;font-size:15px;line-height:22px;color:#374151;"><span style="color:#fb923c;font-weight:bold;">&#10003;</span>&nbsp; Early access to new collections</td></tr>
<tr><td style="padding:6px 0;font-family:Helvetica,Arial,sans-serif;font-size:15px;line-height:22px;color:#374151;"><span style="color:#fb923c;font-weight:bold;">&#10003;</span>&nbsp; Exclusive subscriber discounts</td></tr>
<tr><td style="padding:6px 0;font-family:Helvetica,Arial,sans-serif;font-size:15px;line-height:22px;color:#374151;"><span style="color:#fb923c;font-weight:bold;">&#10003;</span>&nbsp; No spam, just the good stuff</td></tr>
</table>
<table role="presentation" cellpadding="0" cellspacing="0" border="0" style="margin:8px auto 0;">
<tr><td align="center" bgcolor="#f43f5e" style="background-color:#f43f5e;border-radius:6px;">
<a href="{{custom.shop_url|#}}" target="_blank" style="display:inline-block;padding:14px 32px;font-family:Helvetica,Arial,sans-serif;font-size:16px;font-weight:bold;color:#ffffff;text-decoration:none;border-radius:6px;">Start shopping</a>
</td></tr>
</table>
</td></tr>
$html$),
    $text$Welcome aboard!

Hi {{first_name|there}},

Thanks for joining us. We are glad you are here. From now on you will be the first to hear about new arrivals, members-only offers and tips to get the most out of your purchases.

- Early access to new collections
- Exclusive subscriber discounts
- No spam, just the good stuff

Start shopping: {{custom.shop_url|#}}

--
You are receiving this because you signed up at our store.
{{postal_address}}
Unsubscribe: {{unsubscribe_url}}$text$,
    NULL, true, 'welcome'
)
ON CONFLICT (id) DO NOTHING;

INSERT INTO email_templates (id, user_id, name, subject, html_content, text_content, thumbnail_url, is_system, category)
VALUES (
    '00000000-0000-4000-8000-000000000002', NULL, 'Abandoned cart reminder',
    'You left something in your cart',
    pg_temp.system_template_html($t$You left something in your cart$t$, $t$Your cart is saved. Complete your order before your items sell out.$t$, $html$<h1 class="h1" style="margin:0 0 16px;font-family:Helvetica,Arial,sans-serif;font-size:28px;line-height:34px;font-weight:bold;color:#111827;">You left something behind</h1>
<p style="margin:0 0 16px;font-family:Helvetica,Arial,sans-serif;font-size:16px;line-height:24px;color:#374151;">Hi {{first_name|there}},</p>
<p style="margin:0 0 16px;font-family:Helvetica,Arial,sans-serif;font-size:16px;line-height:24px;color:#374151;">Looks like you did not finish checking out. Good news: we saved your cart, so you can pick up right where you left off.</p>
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="margin:0 0 24px;background-color:#fff7f5;border-left:4px solid #fb923c;border-radius:4px;">
<tr><td style="padding:16px 20px;font-family:Helvetica,Arial,sans-serif;font-size:16px;line-height:24px;color:#374151;">Your cart total: <strong style="color:#f43f5e;">{{custom.cart_total}}</strong></td></tr>
</table>
<table role="presentation" cellpadding="0" cellspacing="0" border="0" style="margin:8px auto 0;">
<tr><td align="center" bgcolor="#f43f5e" style="background-color:#f43f5e;border-radius:6px;">
<a href="{{custom.cart_url|#}}" target="_blank" style="display:inline-block;padding:14px 32px;font-family:Helvetica,Arial,sans-serif;font-size:16px;font-weight:bold;color:#ffffff;text-decoration:none;border-radius:6px;">Return to my cart</a>
</td></tr>
</table>
<p style="margin:0 0 16px;font-family:Helvetica,Arial,sans-serif;font-size:16px;line-height:24px;color:#374151;margin:24px 0 0;font-size:14px;line-height:21px;color:#6b7280;">Items in your cart are not reserved, so popular ones may sell out. Questions? Just reply to this email.</p>
</td></tr>
$html$),
    $text$You left something behind

Hi {{first_name|there}},

Looks like you did not finish checking out. Good news: we saved your cart, so you can pick up right where you left off.

Your cart total: {{custom.cart_total}}

Return to my cart: {{custom.cart_url|#}}

Items in your cart are not reserved, so popular ones may sell out. Questions? Just reply to this email.

--
You are receiving this because you signed up at our store.
{{postal_address}}
Unsubscribe: {{unsubscribe_url}}$text$,
    NULL, true, 'cart'
)
ON CONFLICT (id) DO NOTHING;

INSERT INTO email_templates (id, user_id, name, subject, html_content, text_content, thumbnail_url, is_system, category)
VALUES (
    '00000000-0000-4000-8000-000000000003', NULL, 'Seasonal sale',
    '{{first_name|Hey}}, our seasonal sale starts now',
    pg_temp.system_template_html($t$Seasonal sale$t$, $t$Our seasonal sale is on. Use your code at checkout and save.$t$, $html$<div style="text-align:center;">
<span style="display:inline-block;margin:0 0 12px;padding:4px 10px;background-color:#fb923c;border-radius:12px;font-family:Helvetica,Arial,sans-serif;font-size:12px;font-weight:bold;letter-spacing:1px;color:#ffffff;">LIMITED TIME</span>
<h1 class="h1" style="margin:0 0 16px;font-family:Helvetica,Arial,sans-serif;font-size:28px;line-height:34px;font-weight:bold;color:#111827;">Our seasonal sale is on</h1>
<p style="margin:0 0 16px;font-family:Helvetica,Arial,sans-serif;font-size:16px;line-height:24px;color:#374151;">Hi {{first_name|there}}, the season's favourites are marked down for a few days only. Use the code below at checkout to save on your order.</p>
<table role="presentation" cellpadding="0" cellspacing="0" border="0" style="margin:0 auto 24px;">
<tr><td align="center" style="padding:14px 28px;border:2px dashed #fb923c;border-radius:6px;background-color:#fff7f5;font-family:'Courier New',Courier,monospace;font-size:22px;font-weight:bold;letter-spacing:2px;color:#f43f5e;">{{custom.discount_code|WELCOME10}}</td></tr>
</table>
<table role="presentation" cellpadding="0" cellspacing="0" border="0" style="margin:8px auto 0;">
<tr><td align="center" bgcolor="#f43f5e" style="background-color:#f43f5e;border-radius:6px;">
<a href="{{custom.shop_url|#}}" target="_blank" style="display:inline-block;padding:14px 32px;font-family:Helvetica,Arial,sans-serif;font-size:16px;font-weight:bold;color:#ffffff;text-decoration:none;border-radius:6px;">Shop the sale</a>
</td></tr>
</table>
<p style="margin:0 0 16px;font-family:Helvetica,Arial,sans-serif;font-size:16px;line-height:24px;color:#374151;margin:24px 0 0;font-size:13px;line-height:20px;color:#6b7280;">While stocks last. The code cannot be combined with other offers.</p>
</div>
</td></tr>
$html$),
    $text$Our seasonal sale is on

Hi {{first_name|there}}, the season's favourites are marked down for a few days only. Use the code below at checkout to save on your order.

Your code: {{custom.discount_code|WELCOME10}}

Shop the sale: {{custom.shop_url|#}}

While stocks last. The code cannot be combined with other offers.

--
You are receiving this because you signed up at our store.
{{postal_address}}
Unsubscribe: {{unsubscribe_url}}$text$,
    NULL, true, 'promo'
)
ON CONFLICT (id) DO NOTHING;

INSERT INTO email_templates (id, user_id, name, subject, html_content, text_content, thumbnail_url, is_system, category)
VALUES (
    '00000000-0000-4000-8000-000000000004', NULL, 'Monthly newsletter',
    '{{first_name|there}}, here is what is new this month',
    pg_temp.system_template_html($t$Monthly newsletter$t$, $t$New arrivals, stories from our team and what is coming next month.$t$, $html$<span style="display:inline-block;margin:0 0 12px;padding:4px 10px;background-color:#fb923c;border-radius:12px;font-family:Helvetica,Arial,sans-serif;font-size:12px;font-weight:bold;letter-spacing:1px;color:#ffffff;">THIS MONTH</span>
<h1 class="h1" style="margin:0 0 16px;font-family:Helvetica,Arial,sans-serif;font-size:28px;line-height:34px;font-weight:bold;color:#111827;">What is new this month</h1>
<p style="margin:0 0 16px;font-family:Helvetica,Arial,sans-serif;font-size:16px;line-height:24px;color:#374151;">Hi {{first_name|there}}, here is a quick round-up of everything that happened at our store, and a peek at what is coming next.</p>
<div style="height:3px;line-height:3px;font-size:1px;background-color:#fb923c;margin:0 0 24px;">&nbsp;</div>
<h2 style="margin:0 0 8px;font-family:Helvetica,Arial,sans-serif;font-size:19px;line-height:25px;font-weight:bold;color:#111827;">Fresh arrivals</h2>
<p style="margin:0 0 16px;font-family:Helvetica,Arial,sans-serif;font-size:16px;line-height:24px;color:#374151;margin:0 0 8px;font-size:15px;line-height:23px;">Our latest pieces just landed. Be among the first to see them before they are gone.</p>
<p style="margin:0 0 24px;font-family:Helvetica,Arial,sans-serif;font-size:15px;"><a href="{{custom.shop_url|#}}" style="color:#fb923c;font-weight:bold;text-decoration:none;">Read more &rarr;</a></p>
<h2 style="margin:0 0 8px;font-family:Helvetica,Arial,sans-serif;font-size:19px;line-height:25px;font-weight:bold;color:#111827;">Behind the scenes</h2>
<p style="margin:0 0 16px;font-family:Helvetica,Arial,sans-serif;font-size:16px;line-height:24px;color:#374151;margin:0 0 8px;font-size:15px;line-height:23px;">Meet the people who pick, pack and ship your orders, and see how we choose what to stock.</p>
<p style="margin:0 0 24px;font-family:Helvetica,Arial,sans-serif;font-size:15px;"><a href="{{custom.shop_url|#}}" style="color:#fb923c;font-weight:bold;text-decoration:none;">Read more &rarr;</a></p>
<h2 style="margin:0 0 8px;font-family:Helvetica,Arial,sans-serif;font-size:19px;line-height:25px;font-weight:bold;color:#111827;">Coming next month</h2>
<p style="margin:0 0 16px;font-family:Helvetica,Arial,sans-serif;font-size:16px;line-height:24px;color:#374151;margin:0 0 8px;font-size:15px;line-height:23px;">A sneak peek at the collection we are launching soon, plus a date for your calendar.</p>
<p style="margin:0 0 24px;font-family:Helvetica,Arial,sans-serif;font-size:15px;"><a href="{{custom.shop_url|#}}" style="color:#fb923c;font-weight:bold;text-decoration:none;">Read more &rarr;</a></p>
<table role="presentation" cellpadding="0" cellspacing="0" border="0" style="margin:8px auto 0;">
<tr><td align="center" bgcolor="#f43f5e" style="background-color:#f43f5e;border-radius:6px;">
<a href="{{custom.shop_url|#}}" target="_blank" style="display:inline-block;padding:14px 32px;font-family:Helvetica,Arial,sans-serif;font-size:16px;font-weight:bold;color:#ffffff;text-decoration:none;border-radius:6px;">Visit the shop</a>
</td></tr>
</table>
</td></tr>
$html$),
    $text$What is new this month

Hi {{first_name|there}}, here is a quick round-up of everything that happened at our store, and a peek at what is coming next.

FRESH ARRIVALS
Our latest pieces just landed. Be among the first to see them before they are gone.
Read more: {{custom.shop_url|#}}

BEHIND THE SCENES
Meet the people who pick, pack and ship your orders, and see how we choose what to stock.
Read more: {{custom.shop_url|#}}

COMING NEXT MONTH
A sneak peek at the collection we are launching soon, plus a date for your calendar.
Read more: {{custom.shop_url|#}}

Visit the shop: {{custom.shop_url|#}}

--
You are receiving this because you signed up at our store.
{{postal_address}}
Unsubscribe: {{unsubscribe_url}}$text$,
    NULL, true, 'newsletter'
)
ON CONFLICT (id) DO NOTHING;

INSERT INTO email_templates (id, user_id, name, subject, html_content, text_content, thumbnail_url, is_system, category)
VALUES (
    '00000000-0000-4000-8000-000000000005', NULL, 'Order confirmation',
    'Your order {{custom.order_number}} is confirmed',
    pg_temp.system_template_html($t$Order confirmation$t$, $t$Thanks for your order. Here is your confirmation.$t$, $html$<span style="display:inline-block;margin:0 0 12px;padding:4px 10px;background-color:#fb923c;border-radius:12px;font-family:Helvetica,Arial,sans-serif;font-size:12px;font-weight:bold;letter-spacing:1px;color:#ffffff;">ORDER CONFIRMED</span>
<h1 class="h1" style="margin:0 0 16px;font-family:Helvetica,Arial,sans-serif;font-size:28px;line-height:34px;font-weight:bold;color:#111827;">Thanks for your order!</h1>
<p style="margin:0 0 16px;font-family:Helvetica,Arial,sans-serif;font-size:16px;line-height:24px;color:#374151;">Hi {{first_name|there}},</p>
<p style="margin:0 0 16px;font-family:Helvetica,Arial,sans-serif;font-size:16px;line-height:24px;color:#374151;">We have received your order and are getting it ready. You will get another email as soon as it ships.</p>
<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" style="margin:0 0 24px;background-color:#fff7f5;border-radius:6px;">
<tr><td style="padding:10px 16px;font-family:Helvetica,Arial,sans-serif;font-size:15px;color:#6b7280;border-bottom:1px solid #fde2dd;">Order number</td><td style="padding:10px 16px;font-family:Helvetica,Arial,sans-serif;font-size:15px;font-weight:bold;color:#111827;text-align:right;border-bottom:1px solid #fde2dd;">{{custom.order_number}}</td></tr>
<tr><td style="padding:10px 16px;font-family:Helvetica,Arial,sans-serif;font-size:15px;color:#6b7280;border-bottom:1px solid #fde2dd;">Email</td><td style="padding:10px 16px;font-family:Helvetica,Arial,sans-serif;font-size:15px;font-weight:bold;color:#111827;text-align:right;border-bottom:1px solid #fde2dd;">{{email}}</td></tr>
<tr><td style="padding:10px 16px;font-family:Helvetica,Arial,sans-serif;font-size:15px;color:#6b7280;">Order total</td><td style="padding:10px 16px;font-family:Helvetica,Arial,sans-serif;font-size:15px;font-weight:bold;color:#f43f5e;text-align:right;">{{custom.order_total}}</td></tr>
</table>
<table role="presentation" cellpadding="0" cellspacing="0" border="0" style="margin:8px auto 0;">
<tr><td align="center" bgcolor="#f43f5e" style="background-color:#f43f5e;border-radius:6px;">
<a href="{{custom.order_url|#}}" target="_blank" style="display:inline-block;padding:14px 32px;font-family:Helvetica,Arial,sans-serif;font-size:16px;font-weight:bold;color:#ffffff;text-decoration:none;border-radius:6px;">View your order</a>
</td></tr>
</table>
<p style="margin:0 0 16px;font-family:Helvetica,Arial,sans-serif;font-size:16px;line-height:24px;color:#374151;margin:24px 0 0;font-size:14px;line-height:21px;color:#6b7280;">Need to change something? Reply to this email and we will be happy to help.</p>
</td></tr>
$html$),
    $text$Thanks for your order!

Hi {{first_name|there}},

We have received your order and are getting it ready. You will get another email as soon as it ships.

Order number: {{custom.order_number}}
Email: {{email}}
Order total: {{custom.order_total}}

View your order: {{custom.order_url|#}}

Need to change something? Reply to this email and we will be happy to help.

--
You are receiving this because you signed up at our store.
{{postal_address}}
Unsubscribe: {{unsubscribe_url}}$text$,
    NULL, true, 'transactional'
)
ON CONFLICT (id) DO NOTHING;

INSERT INTO email_templates (id, user_id, name, subject, html_content, text_content, thumbnail_url, is_system, category)
VALUES (
    '00000000-0000-4000-8000-000000000006', NULL, 'Post-purchase thank you',
    'Thank you for your order, {{first_name|friend}}',
    pg_temp.system_template_html($t$Thank you$t$, $t$We hope you love your purchase. Tell us what you think.$t$, $html$<h1 class="h1" style="margin:0 0 16px;font-family:Helvetica,Arial,sans-serif;font-size:28px;line-height:34px;font-weight:bold;color:#111827;">Thank you, {{first_name|there}}!</h1>
<p style="margin:0 0 16px;font-family:Helvetica,Arial,sans-serif;font-size:16px;line-height:24px;color:#374151;">We hope you are enjoying your recent purchase. Customers like you are what keep our small team going, so thank you for choosing us.</p>
<p style="margin:0 0 16px;font-family:Helvetica,Arial,sans-serif;font-size:16px;line-height:24px;color:#374151;">Got a minute? Your review helps other shoppers decide and helps us get better.</p>
<table role="presentation" cellpadding="0" cellspacing="0" border="0" style="margin:8px auto 0;">
<tr><td align="center" bgcolor="#f43f5e" style="background-color:#f43f5e;border-radius:6px;">
<a href="{{custom.review_url|#}}" target="_blank" style="display:inline-block;padding:14px 32px;font-family:Helvetica,Arial,sans-serif;font-size:16px;font-weight:bold;color:#ffffff;text-decoration:none;border-radius:6px;">Leave a review</a>
</td></tr>
</table>
<div style="height:3px;line-height:3px;font-size:1px;background-color:#fb923c;margin:28px 0 20px;">&nbsp;</div>
<p style="margin:0 0 16px;font-family:Helvetica,Arial,sans-serif;font-size:16px;line-height:24px;color:#374151;margin:0;font-size:15px;text-align:center;">Looking for something else? <a href="{{custom.shop_url|#}}" style="color:#fb923c;font-weight:bold;text-decoration:none;">Shop our latest arrivals &rarr;</a></p>
</td></tr>
$html$),
    $text$Thank you, {{first_name|there}}!

We hope you are enjoying your recent purchase. Customers like you are what keep our small team going, so thank you for choosing us.

Got a minute? Your review helps other shoppers decide and helps us get better.

Leave a review: {{custom.review_url|#}}

Looking for something else? Shop our latest arrivals: {{custom.shop_url|#}}

--
You are receiving this because you signed up at our store.
{{postal_address}}
Unsubscribe: {{unsubscribe_url}}$text$,
    NULL, true, 'transactional'
)
ON CONFLICT (id) DO NOTHING;
