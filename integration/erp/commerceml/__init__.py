"""1C through CommerceML 2.x: we are the "site" a 1C base exchanges with (Обмен с сайтом)."""
