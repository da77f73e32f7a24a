"""Operations the pages and the JSON API share: sources, jobs, and gallery archives."""
