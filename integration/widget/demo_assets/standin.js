/**
 * A small stand-in for amoCRM's front-end, enough to run the UNCHANGED widget/script.js in the demo card:
 * RequireJS with the modules amoCRM provides (jquery, underscore, twigjs), the Widget methods amoCRM injects
 * (render, render_template, get_settings, set_settings, i18n, system, $authorizedAjax, …), the APP/AMOCRM
 * globals, the widget's lifecycle (render → init → bind_actions, settings/onSave, destroy) and the «Товары»
 * tab driving the card SDK callbacks. Every $authorizedAjax call first gets a fresh token signed by the amoCRM
 * sandbox (/widget-demo/token), as amoCRM signs one per call.
 *
 * For tests and for trying failures by hand: window.amoerpDemo.expireNextTokens = N makes the next N tokens
 * expired ones (as a skewed clock would); window.amoerpDemo.calls lists the widget's calls.
 */
(function () {
  'use strict';

  var config = JSON.parse(document.getElementById('amoerp-demo-config').textContent);
  var demo = window.amoerpDemo = {expireNextTokens: 0, calls: [], widget: null, ready: false};
  window.global = window.global || window;   // twig.js 3's UMD wrapper names `global`

  requirejs.config({
    baseUrl: config.vendor,
    paths: {
      jquery: 'jquery',
      underscore: 'underscore',
      twigjs: 'twig',
      amoerp_widget: config.widget.path + '/script'
    },
    urlArgs: function (id, url) {
      return id === 'amoerp_widget' ? (url.indexOf('?') === -1 ? '?' : '&') + 'v=' + config.widget.version : '';
    }
  });

  window.AMOCRM = window.APP = {
    lang_id: config.lang,
    data: {current_card: {id: config.lead_id, model: {name: config.lead_name}}, current_entity: 'leads'},
    constant: function (name) {
      return {account: {id: config.account_id, subdomain: config.subdomain}, user: {id: config.user_id},
              card_id: config.lead_id}[name];
    },
    getWidgetsArea: function () { return 'leads_card'; },
    getBaseEntity: function () { return 'leads'; },
    isCard: function () { return true; },
    notifications: {
      show_message: function (m) { window.console.info('[amoCRM]', m); },
      show_message_error: function (m) { window.console.warn('[amoCRM]', m); }
    }
  };

  require(['jquery', 'underscore', 'twigjs', 'amoerp_widget'], function ($, _, Twig, CustomWidget) {
    var userSettings = {public_url: config.widget.public_url};   // kept in memory, as long as the page lives
    var langs = {};

    /** The methods amoCRM injects into every widget (the subset the amoerp widget uses). */
    function AmoWidget() {}

    AmoWidget.prototype = {
      get_settings: function () {
        return $.extend({widget_code: config.widget.code, path: config.widget.path, version: config.widget.version,
                         active: 'Y', status: 'installed'}, userSettings);
      },
      set_settings: function (values) { $.extend(userSettings, values); },
      get_version: function () { return config.widget.version; },
      get_install_status: function () { return 'installed'; },
      i18n: function (key) { return langs[key]; },
      system: function () {
        return {area: 'lcard', amouser_id: config.user_id, amouser: 'user' + config.user_id + '@example.com',
                amohash: 'demo', subdomain: config.subdomain, domain: config.subdomain + '.amocrm.ru'};
      },
      widgetsOverlay: function () {},

      /** {href, base_path, v, load}: a twig template of the widget's folder, compiled with twig.js. */
      render: function (options, params) {
        if (!options.href) {
          throw new Error('The demo stand-in renders widget templates only (href), not amoCRM controls (ref).');
        }
        var url = (options.base_path || '') + options.href + (options.v ? '?v=' + options.v : '');
        $.get(url, null, null, 'text').done(function (text) {
          var template = Twig.twig({data: text, rethrow: true});
          if (options.load) { options.load(template, params); }
        });
        return '';
      },

      /** The right column block: the caption and the rendered body. */
      render_template: function (options, data) {
        var block = $('.card-widgets__widget[data-code="' + config.widget.code + '"]');
        block.find('.card-widgets__widget__caption')
          .attr('class', 'card-widgets__widget__caption ' + ((options.caption || {}).class_name || ''))
          .text(langs.widget ? langs.widget.name : config.widget.code);
        var html = options.render ? Twig.twig({data: options.render}).render(data || {}) : (options.body || '');
        block.find('.card-widgets__widget__body').html(html);
      },

      /** jQuery ajax with a fresh X-Auth-Token from the amoCRM sandbox for every call. */
      $authorizedAjax: function (options) {
        var deferred = $.Deferred();
        var expired = demo.expireNextTokens > 0;
        if (expired) { demo.expireNextTokens -= 1; }
        var ask = {user_id: config.user_id};
        if (expired) { ask.lifetime = -3600; }
        $.ajax({url: config.token_url, type: 'POST', data: JSON.stringify(ask), contentType: 'application/json',
                dataType: 'json'})
          .done(function (answer) {
            var call = {url: options.url, method: options.type || options.method || 'GET', expired: expired};
            demo.calls.push(call);
            var headers = $.extend({}, options.headers, {'X-Auth-Token': answer.token});
            $.ajax($.extend({}, options, {headers: headers}))
              .done(function (data, status, xhr) { call.status = xhr.status; deferred.resolve(data, status, xhr); })
              .fail(function (xhr, status, error) { call.status = xhr.status; deferred.reject(xhr, status, error); });
          })
          .fail(function (xhr, status, error) { deferred.reject(xhr, status, error); });
        return deferred.promise();
      }
    };

    var widget;

    function start() {
      Object.setPrototypeOf(CustomWidget.prototype, AmoWidget.prototype);
      widget = demo.widget = new CustomWidget();
      var callbacks = widget.callbacks;
      if (callbacks.render.call(widget) === true && callbacks.init.call(widget) === true) {
        callbacks.bind_actions.call(widget);
      }
      demo.ready = true;
    }

    // ---- tabs ----------------------------------------------------------------------------------------------
    $('.demo-card__tab').on('click', function () {
      var tab = $(this).data('tab');
      $('.demo-card__tab').removeClass('demo-card__tab_active');
      $(this).addClass('demo-card__tab_active');
      $('.demo-card__pane').each(function () { this.hidden = $(this).data('pane') !== tab; });
      if (tab === 'products') { openProductsTab(); }
      if (tab === 'settings') { openSettings(); }
    });

    // ---- the «Товары» tab through the card SDK callbacks -----------------------------------------------------
    var linked = [];

    function sdkStatus(text) { $('.demo-sdk__status').text(text || ''); }

    function drawLinked() {
      var body = $('.demo-sdk__linked tbody').empty();
      _.each(linked, function (item, index) {
        body.append($('<tr class="demo-sdk__item">').attr('data-id', item.id).append(
          $('<td>').text(item.sku), $('<td class="demo-sdk__name">').text(item.name),
          $('<td>').text(item.price),
          $('<td>').append($('<input class="demo-sdk__quantity" size="5">').val(item.quantity)
            .on('change', function () { linked[index].quantity = Number(this.value); })),
          $('<td>').append($('<button type="button" class="demo-sdk__unlink">×</button>')
            .on('click', function () { linked.splice(index, 1); drawLinked(); }))));
      });
    }

    function drawFound(items) {
      var list = $('.demo-sdk__found').empty();
      _.each(items, function (item) {
        list.append($('<li class="demo-sdk__found-item">').attr('data-id', item.id).append(
          $('<span>').text(item.sku + ' · ' + item.name + ' · ' + item.price + ' '),
          $('<button type="button" class="demo-sdk__link">+</button>').on('click', function () {
            if (!_.findWhere(linked, {id: item.id})) { linked.push(_.extend({quantity: 1}, item)); }
            drawLinked();
          })));
      });
    }

    function openProductsTab() {
      sdkStatus('');
      return widget.callbacks.loadElements('leads', config.lead_id).then(function (items) {
        linked = items;
        drawLinked();
      }, function (error) { sdkStatus(error.message); });
    }

    $('.demo-sdk__search')
      .on('focus', function () {
        if (!this.value) { widget.callbacks.loadPreloadedData().then(drawFound, function (e) { sdkStatus(e.message); }); }
      })
      .on('input', _.debounce(function () {
        widget.callbacks.searchDataInCard(this.value, 'leads', config.lead_id)
          .then(drawFound, function (e) { sdkStatus(e.message); });
      }, 250));

    $('.demo-sdk__save').on('click', function () {
      // What amoCRM passes to linkCard is not documented: the demo passes the full list [{id, quantity}].
      var links = _.map(linked, function (item) { return {id: item.id, quantity: item.quantity}; });
      widget.callbacks.linkCard(links).then(function () {
        return openProductsTab().then(function () { sdkStatus('saved'); });
      }, function (error) { sdkStatus(error.message); });
    });

    // ---- the widget's settings (amoCRM's modal) --------------------------------------------------------------
    function openSettings() {
      var body = $('.demo-settings__body').empty();
      $('.demo-settings__public-url').val(userSettings.public_url);
      widget.callbacks.settings.call(widget, body);
    }

    $('.demo-settings__save').on('click', function () {
      var url = $('.demo-settings__public-url').val();
      Promise.resolve(widget.callbacks.onSave.call(widget, {fields: {public_url: url, active: 'Y'}}))
        .then(function (ok) {
          $('.demo-settings__saved').text(ok ? 'saved' : 'not saved');
          if (!ok) { return; }
          userSettings.public_url = url;
          widget.callbacks.destroy.call(widget);
          start();
        });
    });

    $.getJSON(config.widget.path + '/i18n/' + config.lang + '.json?v=' + config.widget.version).done(function (data) {
      langs = data;
      start();
    });
  });
}());
