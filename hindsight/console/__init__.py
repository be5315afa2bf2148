"""The web console served by `hindsight serve` at /console.

app.py        routes: sign-in, Ask, Host, Events, SQL, Fleet, Admin (server-rendered, htmx)
data.py       each page's data, computed in the store process in one call
recognise.py  what the Ask box was given
auth.py       accounts (argon2id), server-side sessions, CSRF tokens
render.py     how values look; the JSON the timelines (vis-timeline) draw
sqlpos.py     where an SQL error is
hints.py      what `hindsight demo` prints to send newcomers here
cli.py        `hindsight user add|remove|list`
templates/, static/ (htmx and vis-timeline vendored in static/vendor/)
"""
